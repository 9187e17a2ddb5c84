import { createHash } from 'node:crypto';
import { MsgpackCursor, NIL, packer, topicProblem, unpacker, type Sender } from '../protocol/index.js';
import type { RetainedEntry } from './retained-store.js';

/**
 * The `--state` file: `["sockbus-state", 1, savedAt, sha256, entries]`,
 * where `entries` is a bin holding one `[topic, data, headers|nil,
 * sender|nil]` array per retained value, data and headers in the encoding
 * the publisher used (so a value comes back byte for byte), sender as
 * `[uid, pid]`. The digest catches a file damaged after it was
 * written; atomic replacement (state-file.ts) catches a crash mid-write.
 */
const FORMAT = 'sockbus-state';
const FORMAT_VERSION = 1;
const ENTRY_HEADER = Buffer.from([0x94]);


/**
 * The file as parts to be written one after another. The entries are the
 * retained values' own buffers, not a copy: a state of 60 MB costs no
 * second 60 MB (and no third in msgpackr's growing output buffer) at
 * every save.
 */
export function encodeStateParts(entries: Iterable<RetainedEntry>, savedAt: Date): Buffer[] {
  const body: Buffer[] = [];
  const digest = createHash('sha256');
  let bodyBytes = 0;
  for (const entry of entries) {
    const sender = entry.sender ? packer.pack([entry.sender.uid, entry.sender.pid]) : NIL;
    for (const part of [ENTRY_HEADER, entry.topicAndData, entry.headers, sender]) {
      body.push(part);
      digest.update(part);
      bodyBytes += part.length;
    }
  }
  // [FORMAT, VERSION, savedAt, sha256, entries]: the first four packed as a
  // four-element array whose header byte becomes five's, then the bin 32 header of the entries.
  const head = Buffer.from(packer.pack([FORMAT, FORMAT_VERSION, savedAt.toISOString(), digest.digest()]));
  head[0] = 0x95;
  const binHeader = Buffer.allocUnsafe(5);
  binHeader[0] = 0xc6;
  binHeader.writeUInt32BE(bodyBytes, 1);
  return [head, binHeader, ...body];
}

/** The whole file in one buffer (for tests and small states). */
export function encodeState(entries: Iterable<RetainedEntry>, savedAt: Date): Buffer {
  return Buffer.concat(encodeStateParts(entries, savedAt));
}

/** Reads a state file's bytes; throws an Error saying what is wrong with them. */
export function decodeState(bytes: Buffer): RetainedEntry[] {
  let outer: unknown;
  try {
    outer = unpacker.unpack(bytes);
  } catch (error) {
    throw new Error(`not msgpack: ${(error as Error).message}`);
  }
  if (!Array.isArray(outer) || outer[0] !== FORMAT) throw new Error('not a sockbus state file');
  if (outer[1] !== FORMAT_VERSION) throw new Error(`format version ${String(outer[1])} is not the ${FORMAT_VERSION} this broker reads`);
  const [, , , digest, body] = outer as [unknown, unknown, unknown, unknown, unknown];
  if (!(body instanceof Uint8Array) || !(digest instanceof Uint8Array)) throw new Error('the entries or their digest are missing');
  const entries = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (!sha256(entries).equals(digest)) throw new Error('the digest does not match the entries: the file was damaged');
  return readEntries(entries);
}

function readEntries(bytes: Buffer): RetainedEntry[] {
  const cursor = new MsgpackCursor(bytes);
  const entries: RetainedEntry[] = [];
  while (!cursor.atEnd) {
    if (cursor.readArrayLength() !== 4) throw new Error(`entry ${entries.length} is not [topic, data, headers, sender]`);
    const start = cursor.offset;
    const topic = cursor.readString('topic');
    const problem = topicProblem(topic);
    if (problem) throw new Error(`entry ${entries.length}: ${problem}`);
    cursor.skipValue();
    const dataEnd = cursor.offset;
    if (cursor.isNil()) cursor.skipValue();
    else if (cursor.readHeaders('headers')) throw new Error('the headers of a saved value are not valid');
    const headersEnd = cursor.offset;
    const sender = readSender(bytes, cursor);
    const entry: RetainedEntry = {
      topic,
      topicAndData: Buffer.from(bytes.subarray(start, dataEnd)),
      headers: Buffer.from(bytes.subarray(dataEnd, headersEnd)),
    };
    entries.push(sender ? { ...entry, sender } : entry);
  }
  return entries;
}

function readSender(bytes: Buffer, cursor: MsgpackCursor): Sender | null {
  const start = cursor.offset;
  cursor.skipValue();
  const value: unknown = unpacker.unpack(bytes.subarray(start, cursor.offset));
  if (value === null) return null;
  if (!Array.isArray(value) || typeof value[0] !== 'number') throw new Error('a sender is not [uid, pid]');
  return { uid: value[0], pid: typeof value[1] === 'number' ? value[1] : null };
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}
