import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDeliveryInPlace } from '../../protocol/decode-delivery.js';
import { packer, unpackValue } from '../../protocol/msgpack.js';
import { TextMemo } from '../../protocol/text-memo.js';

const decodeText = (bytes: Buffer) => (bytes.every((byte) => byte < 0x80) ? bytes.toString('utf8') : null);

describe('the text memo', () => {
  it('gives back the string of exactly the bytes asked for, whatever came before in the same slot', () => {
    const memo = new TextMemo();
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary-ascii', maxLength: 300 }), { minLength: 1, maxLength: 200 }), (texts) => {
        for (const text of texts) {
          const source = Buffer.concat([Buffer.from('xx'), Buffer.from(text), Buffer.from('yy')]);
          expect(memo.text(source, 2, 2 + Buffer.byteLength(text), decodeText)).toBe(text);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a copy, not a view: a read buffer reused for other bytes does not change what it remembers', () => {
    const memo = new TextMemo();
    const source = Buffer.from('sensor.kitchen');
    expect(memo.text(source, 0, source.length, decodeText)).toBe('sensor.kitchen');
    source.write('sensor.cellar!');
    expect(memo.text(source, 0, source.length, decodeText)).toBe('sensor.cellar!');
    expect(memo.text(Buffer.from('sensor.kitchen'), 0, 14, decodeText)).toBe('sensor.kitchen');
  });

  it('remembers bytes that are not text as not text', () => {
    const memo = new TextMemo();
    const bad = Buffer.from([0x61, 0xff, 0x62]);
    expect(memo.text(bad, 0, 3, decodeText)).toBeNull();
    expect(memo.text(Buffer.from(bad), 0, 3, decodeText)).toBeNull();
  });
});

/** A delivery's elements as the general decoder reads them: the whole body unpacked. */
function unpackedDelivery(body: Buffer) {
  const [, topic, data, headers, info, sender] = unpackValue(body) as unknown[];
  const delivery: Record<string, unknown> = { kind: 6, topic, data, headers: headers ?? undefined };
  if (info) delivery['info'] = info;
  if (sender) {
    const [uid, pid, via] = sender as unknown[];
    delivery['sender'] = via === undefined ? { uid, pid: pid ?? null } : { uid, pid: pid ?? null, via };
  }
  return delivery;
}

const scalar = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)));
const data = fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 8 }), scalar, { maxKeys: 4 }));
const sender = fc.oneof(
  fc.constant(null),
  fc.tuple(fc.nat(70_000), fc.nat(4_000_000)),
  fc.tuple(fc.nat(70_000), fc.constant(null)),
  fc.tuple(fc.nat(70_000), fc.nat(100), fc.constant('nats')),
);

describe('a delivery read in place', () => {
  it('is what unpacking the whole body gives, for any data, headers, info and sender', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        data,
        fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }), { nil: null }),
        fc.option(fc.record({ sub: fc.nat(1000) }, { requiredKeys: [] }), { nil: null }),
        sender,
        (topic, value, headers, info, from) => {
          const body = Buffer.concat([Buffer.from([0x96, 6]), ...[topic, value, headers, info, from].map((element) => packer.pack(element))]);
          const read = decodeDeliveryInPlace(body);
          // Null hands the body to the general decoder; when it reads it, it reads it the same.
          if (read) expect(read).toEqual(unpackedDelivery(body));
          if (from === null || from[1] !== null) expect(read).not.toBeNull();
        },
      ),
      { numRuns: 500 },
    );
  });

  it('leaves what is not a plain delivery to the general decoder', () => {
    const pack = (value: unknown) => packer.pack(value);
    expect(decodeDeliveryInPlace(pack([15, 1, 'data', null, null, null]))).toBeNull();
    expect(decodeDeliveryInPlace(pack([6, 't', 'data', 5, null, null]))).toBeNull();
    expect(decodeDeliveryInPlace(pack([6, 't', 'data', null, [1], null]))).toBeNull();
    expect(decodeDeliveryInPlace(Buffer.concat([pack([6, 't', 'data', null, null, null]), Buffer.from([0xc0])]))).toBeNull();
    expect(decodeDeliveryInPlace(pack([6, 't', 'data', null, null, null]).subarray(0, 6))).toBeNull();
    // A uid past 2^53 (uint 64): the general decoder refuses it, so the fast path must not read it.
    expect(decodeDeliveryInPlace(Buffer.from('9606a174c0c0c092cfffffffffffffffff01', 'hex'))).toBeNull();
  });
});
