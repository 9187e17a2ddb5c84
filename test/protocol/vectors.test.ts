import { describe, expect, it } from 'vitest';
import {
  decodeBrokerMessage,
  headerNameProblem,
  MsgpackExtension,
  packer,
  patternMatches,
  patternProblem,
  queueNameProblem,
  topicProblem,
  TopicTrie,
  unpackValue,
} from '../../protocol/index.js';
import { frameVectors, matchingVectors, nameVectors, type NameVector } from '../helpers/vectors.js';

/** A decoded value in the vectors' JSON form: bin as {"$bin": hex}, ext as {"$ext": [type, hex]}. */
function asJson(value: unknown): unknown {
  if (value instanceof MsgpackExtension) return { $ext: [value.type, Buffer.from(value.data).toString('hex')] };
  if (value instanceof Uint8Array) return { $bin: Buffer.from(value).toString('hex') };
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(asJson);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, asJson(inner)]));
  return value;
}

/** The vectors whose text a JavaScript string can hold (the rest are invalid UTF-8, checked against the broker). */
const texts = (vectors: NameVector[]) => vectors.filter((vector) => vector.value !== undefined).map((vector) => [vector.value!, vector.valid] as const);

describe('the TypeScript protocol layer against the conformance vectors', () => {
  it.each([
    ['topics', nameVectors.topics, topicProblem],
    ['patterns', nameVectors.patterns, patternProblem],
    ['queue group names', nameVectors.queues, queueNameProblem],
    ['header names', nameVectors.headerNames, headerNameProblem],
  ] as const)('%s: the same verdicts as the broker', (_what, vectors, problem) => {
    const verdicts = texts(vectors).map(([text]) => [text, problem(text) === null]);
    expect(verdicts).toEqual(texts(vectors));
  });

  it('matching: the plain rule and the routing trie agree with the vectors', () => {
    for (const { pattern, topic, matches } of matchingVectors) {
      expect([pattern, topic, patternMatches(pattern, topic)]).toEqual([pattern, topic, matches]);
      const trie = new TopicTrie<string>();
      trie.add(pattern, pattern);
      expect([pattern, topic, trie.matching(topic).length === 1]).toEqual([pattern, topic, matches]);
    }
  });

  it.each(frameVectors.broker.map((vector) => [vector.name, vector] as const))('decodes the broker frame: %s', (_name, vector) => {
    const frame = Buffer.from(vector.hex, 'hex');
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
    const body = frame.subarray(4);
    expect(asJson(unpackValue(body))).toEqual(vector.value);
    const message = decodeBrokerMessage(body);
    // A kind from a later version is ignored, not an error.
    expect(message === null).toBe(![2, 6, 7, 8, 9, 10, 11, 13, 15, 16].includes((vector.value as number[])[0]!));
  });

  it('encodes an extension it does not know back to the same bytes', () => {
    for (const vector of frameVectors.broker.filter((candidate) => candidate.name.includes('extension'))) {
      const body = Buffer.from(vector.hex, 'hex').subarray(4);
      expect(Buffer.from(packer.pack(unpackValue(body))).toString('hex')).toBe(body.toString('hex'));
    }
  });
});
