import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const directory = fileURLToPath(new URL('../../protocol/vectors/', import.meta.url));

function load<T>(name: string): T {
  return JSON.parse(readFileSync(`${directory}${name}`, 'utf8')) as T;
}

export interface ClientFrameVector {
  name: string;
  hello: boolean;
  frames: string[];
  expect: { answers: string[] } | { error: { code: string; message: string; about: Record<string, unknown> | null }; closes: true };
}

export interface BrokerFrameVector {
  name: string;
  hex: string;
  value: unknown;
}

export interface NameVector {
  value?: string;
  hex?: string;
  valid: boolean;
  code?: string;
}

export const frameVectors = load<{ client: ClientFrameVector[]; broker: BrokerFrameVector[] }>('frames.json');
export const nameVectors = load<{ topics: NameVector[]; patterns: NameVector[]; queues: NameVector[]; headerNames: NameVector[] }>('topics.json');
export const matchingVectors = load<{ cases: Array<{ pattern: string; topic: string; matches: boolean }> }>('matching.json').cases;

/** A name vector's text; undefined for the ones that are not valid UTF-8. */
export function textOf(vector: NameVector): string | undefined {
  return vector.value;
}

/** A name vector's UTF-8 bytes, as they go on the wire. */
export function bytesOf(vector: NameVector): Buffer {
  return vector.hex === undefined ? Buffer.from(vector.value!, 'utf8') : Buffer.from(vector.hex, 'hex');
}
