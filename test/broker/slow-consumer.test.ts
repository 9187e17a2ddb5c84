import { describe, expect, it } from 'vitest';
import { MessageKind } from '../../protocol/index.js';
import { startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { waitFor } from '../helpers/wait.js';
import { execFileSync } from 'node:child_process';
import { MiB, processMemory } from '../helpers/memory.js';

/** Peak resident memory (the high-water mark, so no spike is missed). */
const peakRss = (pid: number) => processMemory(pid, 'VmHWM');

async function pausedSubscriber(socketPath: string, pattern: string): Promise<RawConnection> {
  const raw = await RawConnection.open(socketPath);
  raw.sendValue([MessageKind.Subscribe, 1, pattern]);
  raw.sendValue([MessageKind.Ping, 1]);
  await raw.waitForKind(MessageKind.Pong);
  raw.socket.pause();
  return raw;
}

/** The kernel send buffer (ss's `tb`) of each Unix socket the process holds, in bytes. */
function kernelSendBuffers(pid: number): number[] {
  const lines = execFileSync('ss', ['-x', '-m', '-p', '-H'], { encoding: 'utf8' }).split('\n');
  return lines.filter((line) => line.includes(`pid=${pid},`) && line.includes('ESTAB')).map((line) => Number(/\btb(\d+)/.exec(line)?.[1]));
}

/** What the broker charges to this process's user now (the test runs as one user). */
async function userMemory(client: Awaited<ReturnType<typeof connectClient>>): Promise<number> {
  const { users } = await client.brokerStats();
  return users.find((row) => row.uid === process.getuid!())!.memoryBytes;
}

describe('a subscriber that stops reading', () => {
  it('cannot grow the broker past its bound; the others get everything; the loss is counted and reported', async () => {
    const broker = await startBroker({ args: ['--max-pending', '1MiB'] });
    const slow = await pausedSubscriber(broker.socketPath, 'flood.>');
    const publisher = await connectClient(broker.socketPath);
    const healthy = await connectClient(broker.socketPath);
    const inbox = await collect(healthy, 'flood.>');
    const baseline = peakRss(broker.child.pid);

    const payload = Buffer.alloc(1024, 0x61);
    const total = 80_000; // 80 MiB: far past the bound, so an unbounded broker would show it
    const batch = 500;
    for (let sent = 0; sent < total; sent += batch) {
      for (let index = sent; index < sent + batch; index++) publisher.publish('flood.data', { index, payload });
      // Lockstep with the healthy subscriber: it must never fall behind by the bound itself.
      await waitForCount(inbox, sent + batch);
    }
    expect(inbox.map((message) => (message.data as { index: number }).index)).toEqual(Array.from({ length: total }, (_, index) => index));
    expect(healthy.counters.droppedByBroker).toBe(0);

    const growth = peakRss(broker.child.pid) - baseline;
    expect(growth).toBeLessThan(40 * MiB);

    const stats = await publisher.brokerStats();
    const dropped = stats['dropped'] as number;
    expect(dropped).toBeGreaterThan(total / 2);

    // Once the slow subscriber reads again it gets what fit, then a notice of what did not.
    slow.socket.resume();
    await slow.waitForKind(MessageKind.Dropped, 20_000);
    const delivered = slow.received.filter((message) => message.kind === MessageKind.Message).length;
    const reported = slow.received
      .filter((message) => message.kind === MessageKind.Dropped)
      .reduce((sum, message) => sum + (message as { count: number }).count, 0);
    expect(reported).toBe(dropped);
    expect(delivered + reported).toBe(total);
  });

  it('is disconnected instead when the policy says so, and the others carry on', async () => {
    const broker = await startBroker({ args: ['--max-pending', '256KiB', '--slow-consumer', 'disconnect'] });
    const slow = await pausedSubscriber(broker.socketPath, 'flood.>');
    const publisher = await connectClient(broker.socketPath);
    const healthy = await connectClient(broker.socketPath);
    const inbox = await collect(healthy, 'flood.>');
    const payload = Buffer.alloc(1024);
    for (let sent = 0; sent < 2000; sent += 100) {
      for (let index = 0; index < 100; index++) publisher.publish('flood.data', payload);
      await waitForCount(inbox, sent + 100);
    }
    await waitFor(async () => ((await publisher.brokerStats())['connections'] as number) === 2, 'the slow subscriber to be cut off');
    await waitFor(
      () => broker.child.stderr.includes('closed: SLOW_CONSUMER: outbound buffer of 262144 bytes is full: the client does not read fast enough'),
      'the broker to log why',
    );
    slow.socket.resume();
    await slow.waitForClose();
  });

  it('gets a larger kernel buffer once it backs up, charged to its user\'s share until it goes; idle connections keep the default', async () => {
    const broker = await startBroker();
    const slow = await pausedSubscriber(broker.socketPath, 'flood.>');
    const quiet = await pausedSubscriber(broker.socketPath, 'quiet.>');
    const publisher = await connectClient(broker.socketPath);
    const defaultBuffer = Math.min(...kernelSendBuffers(broker.child.pid));
    const before = await userMemory(publisher);
    const payload = Buffer.alloc(1024, 0x61);
    for (let index = 0; index < 6000; index++) publisher.publish('flood.data', payload);
    await publisher.flush();
    // 1 MiB asked for, which Linux doubles: one socket, the busy one, holds that now.
    await waitFor(() => kernelSendBuffers(broker.child.pid).filter((bytes) => bytes === 2 * MiB).length === 1, 'the busy connection\'s buffer to be raised');
    expect(kernelSendBuffers(broker.child.pid).filter((bytes) => bytes === defaultBuffer).length).toBeGreaterThanOrEqual(2);
    expect(await userMemory(publisher)).toBeGreaterThanOrEqual(before + 2 * MiB - defaultBuffer);
    slow.socket.destroy();
    quiet.socket.destroy();
    await waitFor(async () => (await userMemory(publisher)) <= before, 'the raised buffer to be released with its connection');
  });
});
