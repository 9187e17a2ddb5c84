import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { PROJECT_ROOT, spawnNode } from '../helpers/processes.js';

describe('batching', () => {
  it('a burst of 100,000 publishes takes a few hundred write syscalls, not 100,000, and loses nothing', async () => {
    const { socketPath } = await startBroker();
    const subscriber = await connectClient(socketPath);
    const inbox = await collect(subscriber, 'burst.>');
    const publisher = spawnNode(join(PROJECT_ROOT, 'test/fixtures/burst-publisher.mjs'), [socketPath, '100000']);
    await publisher.waitForExit(60_000);
    expect(publisher.stderr).toBe('');
    const { writeSyscalls } = JSON.parse(publisher.stdout) as { writeSyscalls: number };
    expect(writeSyscalls).toBeLessThan(1000);
    await waitForCount(inbox, 100_000, 'messages', 60_000);
    expect(inbox.every((message, index) => message.data === index)).toBe(true);
  });
});
