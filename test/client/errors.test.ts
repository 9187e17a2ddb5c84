import { describe, expect, it } from 'vitest';
import { MessageKind } from '../../protocol/index.js';
import type { SockbusError } from '../../client/index.js';
import { startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { waitFor } from '../helpers/wait.js';

describe('errors a client reports and survives', () => {
  it('a handler that throws is reported as HANDLER_FAILED; other handlers and later messages are unaffected', async () => {
    const { socketPath } = await startBroker();
    const client = await connectClient(socketPath);
    const errors: SockbusError[] = [];
    client.on('error', (error) => errors.push(error));
    client.subscribe('boom', () => {
      throw new Error('handler bug');
    });
    const inbox = await collect(client, 'boom');
    client.publish('boom', 1);
    client.publish('boom', 2);
    await waitForCount(inbox, 2);
    expect(errors.map((error) => [error.code, error.message])).toEqual([
      ['HANDLER_FAILED', 'handler of boom threw: handler bug'],
      ['HANDLER_FAILED', 'handler of boom threw: handler bug'],
    ]);
  });

  it('a payload the client cannot decode is skipped and reported; the connection goes on', async () => {
    const { socketPath } = await startBroker();
    const client = await connectClient(socketPath);
    const errors: SockbusError[] = [];
    client.on('error', (error) => errors.push(error));
    const inbox = await collect(client, 'odd.>');
    // Valid msgpack nested far deeper than any decoder's stack: the broker checks it
    // without recursion and forwards it; the client's decoder gives up on it.
    const raw = await RawConnection.open(socketPath);
    const deep = Buffer.concat([Buffer.from([0x93, MessageKind.Publish, 0xa5]), Buffer.from('odd.x'), Buffer.alloc(400_000, 0x91), Buffer.from([0xc0])]);
    const frame = Buffer.alloc(4);
    frame.writeUInt32BE(deep.length);
    raw.sendBytes(Buffer.concat([frame, deep]));
    raw.sendValue([MessageKind.Publish, 'odd.y', 'fine']);
    await waitForCount(inbox, 1);
    expect(inbox[0]).toEqual({ topic: 'odd.y', data: 'fine' });
    await waitFor(() => errors.length === 1, 'the skipped frame to be reported');
    expect(errors[0]!.code).toBe('MALFORMED_FRAME');
    expect(errors[0]!.message).toMatch(/^skipped a frame from the broker that could not be decoded: /);
    expect(client.state).toBe('connected');
  });
});
