import { describe, expect, it } from 'vitest';
import { decodeBrokerMessage } from '../../protocol/index.js';
import { connectClient } from '../helpers/clients.js';
import { FakeBroker } from '../helpers/fake-broker.js';

/**
 * Issue 11, "reply sender": a requester learns who answered from the kernel's
 * credentials of the responder, as the broker stamps them on the reply
 * `[15, id, data, headers, error, [uid, pid]]`, like a message's sender.
 */
describe('the sender of a reply', () => {
  const body = (...bytes: Array<number | string>) =>
    Buffer.concat(bytes.map((byte) => (typeof byte === 'string' ? Buffer.from(byte) : Buffer.from([byte]))));

  it('is decoded from the sixth element, [uid, pid], and absent when the broker sends none (row: reply sender)', () => {
    // [15, 7, "ok", nil, nil, [1000, 4242]]
    expect(decodeBrokerMessage(body(0x96, 0x0f, 0x07, 0xa2, 'ok', 0xc0, 0xc0, 0x92, 0xcd, 0x03, 0xe8, 0xcd, 0x10, 0x92))).toEqual({
      kind: 15,
      requestId: 7,
      data: 'ok',
      headers: undefined,
      error: undefined,
      sender: { uid: 1000, pid: 4242 },
    });
    // [15, 7, "ok", nil, nil, [0, nil]]: a platform that cannot tell the pid
    expect(decodeBrokerMessage(body(0x96, 0x0f, 0x07, 0xa2, 'ok', 0xc0, 0xc0, 0x92, 0x00, 0xc0)).sender).toEqual({ uid: 0, pid: null });
    // [15, 7, "ok", nil, nil, nil] and [15, 7, "ok"]: no sender, as from an older broker
    expect(decodeBrokerMessage(body(0x96, 0x0f, 0x07, 0xa2, 'ok', 0xc0, 0xc0, 0xc0))).not.toHaveProperty('sender');
    expect(decodeBrokerMessage(body(0x93, 0x0f, 0x07, 0xa2, 'ok'))).not.toHaveProperty('sender');
  });

  it('that is not [uid, pid] makes the frame invalid rather than a forged-looking sender (row: reply sender)', () => {
    // [15, 7, "ok", nil, nil, "root"]
    expect(() => decodeBrokerMessage(body(0x96, 0x0f, 0x07, 0xa2, 'ok', 0xc0, 0xc0, 0xa4, 'root'))).toThrow(
      expect.objectContaining({ code: 'INVALID_MESSAGE', message: 'a reply\'s sender is [uid, pid] or [uid, pid, via]' }),
    );
  });

  it('is reply.sender from request(), out of the reply\'s enumerable fields like message.sender (row: reply sender)', async () => {
    const broker = await FakeBroker.start({
      onFrame: (connection, frame) => {
        const [kind, , , , options] = frame as [number, string, unknown, unknown, { request?: number } | undefined];
        if (kind === 3 && options?.request !== undefined) connection.send([15, options.request, 'pong', { via: 'fake' }, null, [1234, 5678]]);
      },
    });
    const client = await connectClient(broker.path);
    const reply = await client.request('ping', null);
    expect(reply).toEqual({ data: 'pong', headers: { via: 'fake' } });
    expect(reply.sender).toEqual({ uid: 1234, pid: 5678 });
  });
});
