import { describe, expect, it } from 'vitest';
import { encodeFrame, ErrorCode, FrameDecoder, ProtocolError } from '../../protocol/index.js';

const bodies = [Buffer.from([0x90]), Buffer.from('hello'), Buffer.alloc(300, 7), Buffer.from([1, 2, 3, 4, 5, 6])];
const stream = Buffer.concat(bodies.map(encodeFrame));

function decodeInChunks(chunks: Buffer[], max = 1024): Buffer[] {
  const frames: Buffer[] = [];
  const decoder = new FrameDecoder(max, (body) => frames.push(Buffer.from(body)));
  for (const chunk of chunks) decoder.push(chunk);
  expect(decoder.bufferedBytes).toBe(0);
  return frames;
}

/** Decodes with a receiver that stops after every frame, resuming after each push as a connection's next turn does. */
function decodeOneAtATime(chunks: Buffer[]): Buffer[] {
  const frames: Buffer[] = [];
  const decoder = new FrameDecoder(1024, (body) => {
    frames.push(Buffer.from(body));
    decoder.hold();
  });
  for (const chunk of chunks) {
    decoder.push(chunk);
    // Frames the hold kept are delivered one per resume, in order.
    for (let before = -1; before !== frames.length; ) {
      before = frames.length;
      decoder.resume();
    }
  }
  expect(decoder.bufferedBytes).toBe(0);
  return frames;
}

describe('FrameDecoder', () => {
  it('stops after the frame in hand when told, and goes on from there on resume: whole, byte by byte, at every split', () => {
    expect(decodeOneAtATime([stream])).toEqual(bodies);
    expect(decodeOneAtATime([...stream].map((byte) => Buffer.from([byte])))).toEqual(bodies);
    for (let split = 0; split <= stream.length; split++) {
      expect(decodeOneAtATime([stream.subarray(0, split), stream.subarray(split)])).toEqual(bodies);
    }
  });

  it('keeps bytes pushed while held, and delivers them after what was held', () => {
    const frames: Buffer[] = [];
    const decoder = new FrameDecoder(1024, (body) => {
      frames.push(Buffer.from(body));
      if (frames.length === 1) decoder.hold();
    });
    decoder.push(stream.subarray(0, 10));
    decoder.push(stream.subarray(10));
    expect(frames).toEqual(bodies.slice(0, 1));
    decoder.resume();
    expect(frames).toEqual(bodies);
  });

  it('decodes a whole stream at once', () => {
    expect(decodeInChunks([stream])).toEqual(bodies);
  });

  it('decodes a stream fed byte by byte', () => {
    const bytes = [...stream].map((byte) => Buffer.from([byte]));
    expect(decodeInChunks(bytes)).toEqual(bodies);
  });

  it('decodes a stream split in two at every boundary', () => {
    for (let split = 0; split <= stream.length; split++) {
      expect(decodeInChunks([stream.subarray(0, split), stream.subarray(split)])).toEqual(bodies);
    }
  });

  it('decodes random chunkings', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 200; round++) {
      const chunks: Buffer[] = [];
      for (let offset = 0; offset < stream.length; ) {
        const size = 1 + Math.floor(random() * 40);
        chunks.push(stream.subarray(offset, offset + size));
        offset += size;
      }
      expect(decodeInChunks(chunks)).toEqual(bodies);
    }
  });

  it('keeps a partial frame until the rest arrives', () => {
    const frames: Buffer[] = [];
    const decoder = new FrameDecoder(1024, (body) => frames.push(body));
    decoder.push(stream.subarray(0, 7));
    expect(frames).toHaveLength(1);
    expect(decoder.bufferedBytes).toBe(2);
  });

  it('refuses an oversize frame from its header alone, before buffering the body', () => {
    const decoder = new FrameDecoder(100, () => undefined);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(101);
    expect(() => decoder.push(header)).toThrow(new ProtocolError(ErrorCode.FrameTooLarge, 'frame of 101 bytes exceeds the limit of 100 bytes'));
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('refuses a length of 2^32-1', () => {
    const decoder = new FrameDecoder(1024 * 1024, () => undefined);
    expect(() => decoder.push(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(/frame of 4294967295 bytes exceeds the limit of 1048576 bytes/);
  });

  it('refuses a frame of length 0, and stays failed', () => {
    const decoder = new FrameDecoder(1024, () => undefined);
    expect(() => decoder.push(Buffer.alloc(4))).toThrow(/frame of length 0/);
    expect(() => decoder.push(stream)).toThrow(/frame of length 0/);
  });

  it('accepts a frame of exactly the limit', () => {
    expect(decodeInChunks([encodeFrame(Buffer.alloc(64, 1))], 64)).toEqual([Buffer.alloc(64, 1)]);
  });

  it('copies a short tail of a read that completed a straddling frame, instead of keeping the whole read alive through it', () => {
    const decoder = new FrameDecoder(70_000, () => undefined);
    const big = encodeFrame(Buffer.alloc(65_000, 1));
    const next = encodeFrame(Buffer.alloc(10, 2));
    decoder.push(big.subarray(0, 100));
    // The rest of the big frame and 5 bytes of the next, in one read of its own buffer, as Node hands reads over.
    decoder.push(Buffer.from(Buffer.concat([big.subarray(100), next.subarray(0, 5)])));
    expect(decoder.bufferedBytes).toBe(5);
    // A copy of 5 bytes lives in Node's shared 8 KiB pool; a view would keep the whole 65 KB read.
    expect(decoder.retainedBytes).toBeLessThanOrEqual(8192);
  });
});

