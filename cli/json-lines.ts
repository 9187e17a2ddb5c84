import { MsgpackExtension, type Message } from '../client/index.js';
import { escapeJson } from './terminal-escape.js';

/**
 * One message as one JSON line. Values JSON cannot hold are spelled out:
 * binary as {"$base64": ...}, a msgpack extension as {"$ext": type,
 * "$base64": ...}, big integers as strings, maps as objects.
 * A replayed retained value says so with `"retained": true`.
 */
export function messageToJsonLine(message: Message): string {
  const line: Record<string, unknown> = { topic: message.topic, data: message.data ?? null, headers: message.headers ?? {} };
  if (message.retained) line['retained'] = true;
  return toJsonLine(line);
}

/**
 * Any value as one line of JSON, with the same spelling of what JSON cannot
 * hold; C1 controls, bidi controls and line separators as \u escapes, so the
 * line is also safe to show on a terminal (JSON.stringify escapes only C0).
 */
export function toJsonLine(value: unknown): string {
  return escapeJson(JSON.stringify(value, jsonSafe));
}

/** Indented JSON for people, escaped like toJsonLine. */
export function toJsonText(value: unknown): string {
  return escapeJson(JSON.stringify(value, jsonSafe, 2));
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (value instanceof MsgpackExtension) return { $ext: value.type, $base64: Buffer.from(value.data).toString('base64') };
  if (value instanceof Uint8Array) return { $base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Map) return Object.fromEntries(value);
  return value;
}

/** Command-line data: JSON when it parses as JSON, else the text itself. */
export function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
