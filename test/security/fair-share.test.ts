import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_CLIENT_NAME_BYTES } from '../../protocol/index.js';
import { startSharedBroker, type TestBroker } from '../helpers/broker.js';
import { connectClient, watchingPair } from '../helpers/clients.js';
import { MiB, processMemory } from '../helpers/memory.js';
import { makeTempDir } from '../helpers/processes.js';
import { ALICE, BOB, readableCopyOfProject, spawnAs, testUser } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';

const aliceIs = () => `user ${ALICE} (uid ${testUser(ALICE).uid})`;

/** Starts a raw session as `user`: hello with `name`, then `frames` (passed in a file: they can be large). */
function startRawSession(user: string, broker: TestBroker, name: string, frames: unknown[], hold = false) {
  const framesFile = join(makeTempDir(0o755), 'frames.json');
  writeFileSync(framesFile, JSON.stringify(frames), { mode: 0o644 });
  return spawnAs(user, readableCopyOfProject(), 'fixtures/raw-session.mjs', [broker.socketPath, name, framesFile, hold ? 'hold' : 'end']);
}

/** Runs a raw session as `user` to its end; resolves with its output lines (errors as JSON, then pong or closed). */
async function rawSessionAs(user: string, broker: TestBroker, name: string, frames: unknown[]): Promise<string[]> {
  const session = startRawSession(user, broker, name, frames);
  await session.waitForExit(30_000);
  expect(session.stderr).toBe('');
  return session.stdout.trim().split('\n');
}

describe('fair share: memory', () => {
  // Attack row: "500 subscribers that never read, one publisher flooding": 3.93 GiB, OOM-killed under a 2 GiB limit.
  it('holds one user\'s never-reading subscribers to that user\'s share: the broker stays small, only her messages drop', async () => {
    const broker = await startSharedBroker();
    const pair = await watchingPair(broker.socketPath);
    const hog = spawnAs(ALICE, readableCopyOfProject(), 'fixtures/memory-hog.mjs', [broker.socketPath, '300', '20000', '4096']);
    await waitFor(() => hog.stdout.includes('flooded') || !hog.running, 'the hog to have flooded', 60_000);
    expect(hog.stderr).toBe('');
    await pair.loseNothing();
    const peak = processMemory(broker.child.pid, 'VmHWM');
    console.log(`300 never-reading subscribers of one user, 20,000 × 4 KiB published to them: broker peak RSS ${(peak / MiB).toFixed(1)} MiB`);
    expect(peak).toBeLessThan(512 * MiB);
    const observer = await connectClient(broker.socketPath);
    const { users } = await observer.brokerStats();
    const alice = users.find((row) => row.uid === testUser(ALICE).uid)!;
    expect(alice.user).toBe(ALICE);
    expect(alice.memoryShareBytes).toBe(128 * MiB);
    expect(alice.memoryBytes).toBeLessThanOrEqual(alice.memoryShareBytes);
    expect(alice.dropped).toBeGreaterThan(0);
    expect(broker.child.stderr).toMatch(new RegExp(`warn: user ${ALICE} \\(uid \\d+\\) is at its memory share: its clients hold [\\d.]+ MiB of 128.0 MiB \\(--max-memory-per-uid\\)`));
    // Once per episode, not once per message.
    expect(broker.child.stderr.match(/is at its memory share/g)).toHaveLength(1);
    hog.process.kill();
  });

  it('refuses a subscription once the user\'s share is used, naming the share and the flag', async () => {
    const broker = await startSharedBroker(['--max-memory-per-uid', '1MiB']);
    const lines = await rawSessionAs(ALICE, broker, 'many-subscriptions', Array.from({ length: 3000 }, (_, index) => [4, index + 1, `a${index}.b.c.d`]));
    const refusals = lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { code: string; message: string });
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals[0]).toMatchObject({ code: 'OVER_MEMORY_SHARE', message: expect.stringMatching(new RegExp(`^${aliceIs().replace(/[()]/g, '\\$&')} is at its memory share of 1.0 MiB \\(--max-memory-per-uid\\): its clients hold [\\d.]+ MiB; read what is waiting or unsubscribe first$`)) });
    expect(lines.at(-1)).toBe('pong');
  });
});

describe('fair share: subscriptions and sizes', () => {
  // Attack rows: "10,000 subscriptions to distinct 127-token patterns" (650 MiB per connection) and
  // "10,000 patterns of a/* 60 tokens deep" (240 ms of broker CPU per publish).
  it('refuses patterns with too many tokens or wildcards, and more pattern bytes than a connection may hold, each naming its flag', async () => {
    const broker = await startSharedBroker();
    const pair = await watchingPair(broker.socketPath);
    const deep = Array.from({ length: 127 }, () => 'a').join('.');
    const wild = 'a.*.a.*.a.*.a.*';
    const lines = await rawSessionAs(ALICE, broker, 'patterns', [
      [4, 1, deep],
      [4, 2, wild],
      ...Array.from({ length: 9000 }, (_, index) => [4, 10 + index, `p${String(index).padStart(5, '0')}.x.y.z.w.v.u.t.s.r.q.o.n`]),
    ]);
    const refusals = lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { code: string; message: string; about: unknown });
    expect(refusals[0]).toEqual({ code: 'PATTERN_TOO_COMPLEX', message: `pattern ${deep} has 127 tokens, more than the 16 the broker allows (--max-pattern-tokens)`, about: { kind: 4, sub: 1 } });
    expect(refusals[1]).toEqual({ code: 'PATTERN_TOO_COMPLEX', message: `pattern ${wild} has 4 * wildcards, more than the 3 the broker allows (--max-pattern-wildcards)`, about: { kind: 4, sub: 2 } });
    expect(refusals[2]).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', message: "this connection's patterns would take more than the 262144 bytes the broker allows one connection (--max-pattern-bytes)" });
    expect(lines.at(-1)).toBe('pong');
    await pair.loseNothing();
  });

  it('bounds the queue group subscriptions of one user: each is looked at on every publish it matches', async () => {
    const broker = await startSharedBroker(['--max-queue-subscriptions-per-uid', '50']);
    const lines = await rawSessionAs(ALICE, broker, 'queues', Array.from({ length: 60 }, (_, index) => [4, index + 1, '>', { queue: `g${index % 3}` }]));
    const refusals = lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { code: string; message: string; about: unknown });
    expect(refusals).toHaveLength(10);
    expect(refusals[0]).toEqual({
      code: 'TOO_MANY_SUBSCRIPTIONS',
      message: `${aliceIs()} already holds 50 queue group subscriptions, the most the broker allows one user (--max-queue-subscriptions-per-uid)`,
      about: { kind: 4, sub: 51 },
    });
    expect(lines.at(-1)).toBe('pong');
  });

  it('bounds the pattern bytes of one user across her connections', async () => {
    const broker = await startSharedBroker(['--max-pattern-bytes-per-uid', '64KiB']);
    const patterns = (from: number) => Array.from({ length: 2000 }, (_, index) => [4, index + 1, `u${from + index}.pattern.of.some.length`]);
    const holder = startRawSession(ALICE, broker, 'one', patterns(0), true);
    await waitFor(() => holder.stdout.includes('pong'), 'the first connection to hold its patterns');
    expect(holder.stdout).toBe('pong\n');
    const refusals = (await rawSessionAs(ALICE, broker, 'two', patterns(10_000))).filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { code: string; message: string });
    expect(refusals[0]).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', message: `the patterns of ${aliceIs()} would take more than the 65536 bytes the broker allows one user (--max-pattern-bytes-per-uid)` });
    // Bob is another user: his patterns are his own.
    expect(await rawSessionAs(BOB, broker, 'bob', [[4, 1, 'bob.pattern']])).toEqual(['pong']);
    holder.process.kill();
  });

  // Attack rows: "hello names of 1 MB" (881 MiB for 400 connections) and "header maps of 80,000 entries" (75 ms of CPU each).
  it('refuses a hello name longer than the limit, and headers with too many entries or bytes, with the connection kept for headers', async () => {
    const broker = await startSharedBroker();
    const pair = await watchingPair(broker.socketPath);
    expect(await rawSessionAs(ALICE, broker, 'x:100000:n', [])).toEqual([
      JSON.stringify({ code: 'INVALID_MESSAGE', message: `hello: "name" is 100000 bytes, longer than the limit of ${MAX_CLIENT_NAME_BYTES} bytes`, about: { kind: 1 } }),
      'closed',
    ]);
    const manyHeaders = Object.fromEntries(Array.from({ length: 80_000 }, (_, index) => [`h${index}`, 'v']));
    expect(await rawSessionAs(ALICE, broker, 'headers', [[3, 'pair.h', 1, manyHeaders], [3, 'pair.h', 1, { big: 'x:20000:v' }]])).toEqual([
      JSON.stringify({ code: 'HEADERS_TOO_LARGE', message: 'publish headers: 80000 entries, more than the 64 a message may carry', about: { kind: 3, topic: 'pair.h' } }),
      JSON.stringify({ code: 'HEADERS_TOO_LARGE', message: "publish headers: 20008 bytes, more than the 16384 a message's headers may take", about: { kind: 3, topic: 'pair.h' } }),
      'pong',
    ]);
    await pair.loseNothing();
  });
});

describe('fair share: connection slots', () => {
  // Attack row: "two users × 5,000 connections": everyone, root included, got TOO_MANY_CONNECTIONS.
  it('keeps room for a user who arrives last, whatever two others took, and refuses the biggest holders first', async () => {
    const broker = await startSharedBroker(['--max-connections', '40']);
    const observer = await connectClient(broker.socketPath, { name: 'root-observer' });
    const hold = (user: string, count: number) => spawnAs(user, readableCopyOfProject(), 'fixtures/memory-hog.mjs', [broker.socketPath, String(count), '0', '1']);
    const stats = () => observer.brokerStats();
    const alice = hold(ALICE, 30);
    await waitFor(async () => (await stats())['connectionsRefused'] === 11, 'alice to be refused past half the slots', 30_000);
    expect(await stats()).toMatchObject({ connections: 21 });
    expect(await rawSessionAs(ALICE, broker, 'one-more', [])).toEqual([
      JSON.stringify({ code: 'TOO_MANY_CONNECTIONS', message: `${aliceIs()} already has 20 connections, the most the broker allows one user (--max-connections-per-uid)`, about: null }),
      'closed',
    ]);
    const bob = hold(BOB, 30);
    // Bob gets slots up to the last tenth, which is kept for users who hold fewer than the average.
    await waitFor(async () => (await stats())['connectionsRefused'] === 12 + 16, 'bob to be refused at the last tenth', 30_000);
    expect(await stats()).toMatchObject({ connections: 36 });
    const bobIs = `user ${BOB} (uid ${testUser(BOB).uid})`;
    expect(await rawSessionAs(BOB, broker, 'one-more', [])).toEqual([
      JSON.stringify({
        code: 'TOO_MANY_CONNECTIONS',
        message: `the broker is near its limit of 40 connections (--max-connections), and ${bobIs} already holds 15, more than its fair part: the last slots are kept for users who hold fewer`,
        about: null,
      }),
      'closed',
    ]);
    // A third user still gets in, and is served.
    expect(await rawSessionAs('nobody', broker, 'late-arrival', [])).toEqual(['pong']);
    alice.process.kill();
    bob.process.kill();
  });
});
