import fc from 'fast-check';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  decodeClientMessage,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  patternCovers,
  patternMatches,
  patternProblem,
  ProtocolError,
  topicProblem,
  TopicTrie,
} from '../../protocol/index.js';

const MAX_FRAME = 256;

/** Splits bytes at the given cut points. */
function chunk(bytes: Uint8Array, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(Buffer.from(bytes.subarray(start, point)));
    start = point;
  }
  return chunks;
}

describe('frame decoder properties', () => {
  it('on any byte stream, in any chunking: only ProtocolErrors, no frame over the limit, never more buffered than one frame', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
        const decoder = new FrameDecoder(MAX_FRAME, (body) => {
          expect(body.length).toBeGreaterThan(0);
          expect(body.length).toBeLessThanOrEqual(MAX_FRAME);
        });
        for (const piece of chunk(bytes, cuts)) {
          try {
            decoder.push(piece);
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError);
            return;
          }
          expect(decoder.bufferedBytes).toBeLessThanOrEqual(MAX_FRAME + FRAME_HEADER_BYTES);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('any sequence of valid frames comes out whole and in order, however it is cut', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: MAX_FRAME }), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (bodies, cuts) => {
        const stream = Buffer.concat(bodies.map((body) => encodeFrame(body)));
        const received: Buffer[] = [];
        const decoder = new FrameDecoder(MAX_FRAME, (body) => received.push(Buffer.from(body)));
        for (const piece of chunk(stream, cuts)) decoder.push(piece);
        expect(received).toEqual(bodies.map((body) => Buffer.from(body)));
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('message validation properties', () => {
  it('any bytes as a frame body: a message or a ProtocolError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
        try {
          decodeClientMessage(Buffer.from(bytes));
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('any msgpack value, and any message-shaped array of any values: a message or a ProtocolError', () => {
    const value = fc.oneof(fc.anything(), fc.tuple(fc.integer({ min: -1, max: 15 }), fc.anything(), fc.anything(), fc.anything()));
    fc.assert(
      fc.property(value, (candidate) => {
        let body: Buffer;
        try {
          body = Buffer.from(pack(candidate));
        } catch {
          return; // not encodable: nothing a peer could send
        }
        try {
          decodeClientMessage(body);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('topic properties', () => {
  it('validation never throws, and a valid topic is a valid pattern', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300, unit: 'binary' }), (text) => {
        const problem = topicProblem(text);
        if (problem === null) expect(patternProblem(text)).toBeNull();
      }),
      { numRuns: 3000 },
    );
  });

  it('the trie and the plain matching rules agree', () => {
    const token = fc.constantFrom('a', 'b', 'c', '$x');
    const pattern = fc
      .array(fc.oneof(token, fc.constant('*')), { minLength: 1, maxLength: 4 })
      .chain((tokens) => fc.boolean().map((tail) => (tail ? [...tokens, '>'] : tokens).join('.')));
    const topic = fc.array(token, { minLength: 1, maxLength: 5 }).map((tokens) => tokens.join('.'));
    fc.assert(
      fc.property(fc.array(pattern, { maxLength: 30 }), fc.array(topic, { maxLength: 20 }), (patterns, topics) => {
        const trie = new TopicTrie<string>();
        for (const candidate of patterns) trie.add(candidate, candidate);
        for (const candidate of topics) {
          const found: string[] = [];
          trie.match(candidate, (value) => found.push(value));
          expect(found.sort()).toEqual(patterns.filter((value) => patternMatches(value, candidate)).sort());
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a pattern covers another exactly when every topic the inner one matches, the outer one matches too', () => {
    const tokens = ['a', 'b', '$x'];
    const token = fc.constantFrom(...tokens);
    const pattern = fc
      .array(fc.oneof(token, fc.constant('*')), { minLength: 1, maxLength: 3 })
      .chain((parts) => fc.boolean().map((tail) => (tail ? [...parts, '>'] : parts).join('.')));
    // Every topic of up to 5 tokens over the patterns' tokens and one they never name, which tells `*` from a literal.
    const universe: string[] = [];
    const grow = (prefix: string[]) => {
      if (prefix.length > 0) universe.push(prefix.join('.'));
      if (prefix.length < 5) for (const next of [...tokens, 'z']) grow([...prefix, next]);
    };
    grow([]);
    fc.assert(
      fc.property(pattern, pattern, (outer, inner) => {
        const contained = universe.every((topic) => !patternMatches(inner, topic) || patternMatches(outer, topic));
        expect(patternCovers(outer, inner)).toBe(contained);
      }),
      { numRuns: 400 },
    );
    expect([patternCovers('>', 'a.*'), patternCovers('a.*', 'a.>'), patternCovers('>', '$SYS.>'), patternCovers('$SYS.>', '$SYS.client.*')]).toEqual([true, false, false, true]);
  });
});
