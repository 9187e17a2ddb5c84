import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restartBroker, startBroker, startCli } from '../helpers/broker.js';
import { collect, connectClient, waitForCount, waitForSubscriptions } from '../helpers/clients.js';
import { Child, makeTempDir, PROJECT_ROOT, track } from '../helpers/processes.js';
import { BOB, readableCopyOfProject } from '../helpers/users.js';
import { waitFor } from '../helpers/wait.js';
import { FakeBroker, frameOf, pack } from '../helpers/fake-broker.js';
import { brokerAsBob, fakeBrokerAs, sharedDirectory, who } from '../security/impostors.js';

/**
 * libsockbus (clients/c), built with make into temp directories: once with
 * AddressSanitizer and UndefinedBehaviorSanitizer (every C program below runs
 * from that build, so a memory error or undefined behaviour fails its test),
 * once plain for the valgrind runs. Real brokers on temp sockets, the
 * TypeScript client and CLI on the other side.
 */

const C_DIR = join(PROJECT_ROOT, 'clients/c');
let sanitized = '';
let plain = '';

const SANITIZER_ENVIRONMENT = {
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:exitcode=97',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1:exitcode=98',
};

beforeAll(() => {
  sanitized = mkdtempSync(join(tmpdir(), 'sockbus-c-asan-'));
  plain = mkdtempSync(join(tmpdir(), 'sockbus-c-plain-'));
  execFileSync('make', ['-s', '-j2', `BUILD=${sanitized}`, 'SANITIZE=1', 'tests'], { cwd: C_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('make', ['-s', '-j2', `BUILD=${plain}`, 'tests'], { cwd: C_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
}, 300_000);

afterAll(() => {
  for (const directory of [sanitized, plain]) if (directory) rmSync(directory, { recursive: true, force: true });
});

/** A program of the sanitized build; killed after the test if still running. */
function c(program: string, args: string[], environment: NodeJS.ProcessEnv = {}): Child {
  return track(
    new Child(spawn(join(sanitized, program), args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...SANITIZER_ENVIRONMENT, ...environment } })),
  );
}

/** A program of the plain build under valgrind: any error or definite leak exits 99. */
function valgrind(program: string, args: string[]): Child {
  const options = ['-q', '--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite,indirect', '--show-leak-kinds=definite,indirect'];
  return track(new Child(spawn('valgrind', [...options, join(plain, program), ...args], { stdio: ['pipe', 'pipe', 'pipe'] })));
}

function lines(text: string): string[] {
  return text.trim().split('\n').filter(Boolean);
}

async function finished(child: Child, timeoutMs = 20_000): Promise<Child> {
  child.process.stdin?.end();
  await child.waitForExit(timeoutMs);
  return child;
}

describe('libsockbus without a broker', () => {
  it('passes its unit tests: the frame decoder whole, byte by byte and split everywhere, PROTOCOL.md §7 decoded and encoded byte for byte, §4 names', async () => {
    const unit = await finished(c('sockbus-unit-tests', []));
    expect([unit.exitCode, unit.stderr]).toEqual([0, '']);
    expect(unit.stdout).toMatch(/^\d+ checks, 0 failed\n$/);
  });

  it('survives random and mutated frames in its decoder, under ASan and UBSan (row: fuzz)', async () => {
    const fuzz = await finished(c('sockbus-fuzz-client', ['decoder', '150000', String(Date.now() % 100000)]), 60_000);
    expect([fuzz.exitCode, fuzz.stderr]).toEqual([0, '']);
    expect(fuzz.stdout).toMatch(/^decoder: 150000 iterations, \d+ frames/);
  });

  it('builds, installs with PREFIX and is found by pkg-config; a program links the shared library', async () => {
    const prefix = mkdtempSync(join(tmpdir(), 'sockbus-c-prefix-'));
    try {
      execFileSync('make', ['-s', '-j2', `BUILD=${plain}`, 'install', `PREFIX=${prefix}`], { cwd: C_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
      const environment = { ...process.env, PKG_CONFIG_PATH: join(prefix, 'lib/pkgconfig') };
      const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'sockbus'], { env: environment, encoding: 'utf8' }).trim().split(/\s+/);
      expect(flags).toEqual(expect.arrayContaining([`-I${prefix}/include`, `-L${prefix}/lib`, '-lsockbus', '-lmsgpackc']));
      const source = join(prefix, 'check.c');
      writeFileSync(source, '#include <sockbus.h>\n#include <stdio.h>\nint main(void) { printf("%d\\n", sockbus_pattern_matches("a.>", "a.b")); return 0; }\n');
      execFileSync('cc', ['-o', join(prefix, 'check'), source, ...flags], { env: environment });
      const output = execFileSync(join(prefix, 'check'), { env: { ...environment, LD_LIBRARY_PATH: join(prefix, 'lib') }, encoding: 'utf8' });
      expect(output).toBe('1\n');
      expect(execFileSync('ldd', [join(prefix, 'check')], { env: { LD_LIBRARY_PATH: join(prefix, 'lib') }, encoding: 'utf8' })).toContain(`${prefix}/lib/libsockbus.so.0`);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });

  it('says when no broker listens, and exits 1', async () => {
    const path = join(makeTempDir(), 'none.sock');
    const pub = await finished(c('sockbus-c', ['pub', 'a.b', '1', '--socket', path]));
    expect([pub.exitCode, pub.stderr]).toEqual([1, `sockbus-c: no broker is listening on ${path} (is sockbusd running?)\n`]);
    const typo = await finished(c('sockbus-c', ['pub', 'a..b', '1', '--socket', path]));
    expect([typo.exitCode, typo.stderr]).toEqual([1, 'sockbus-c: invalid topic a..b: empty token (two dots in a row, or a dot at either end)\n']);
  });
});

describe('libsockbus and the conformance vectors (protocol/vectors/)', () => {
  const vectors = (name: string) => JSON.parse(readFileSync(join(PROJECT_ROOT, 'protocol/vectors', name), 'utf8'));
  const hexOf = (text: string) => Buffer.from(text, 'utf8').toString('hex') || '-';

  /** Runs the vector program over one line per case; resolves with one verdict line per case. */
  async function verdicts(input: string[]): Promise<string[]> {
    const run = c('sockbus-vectors', []);
    run.process.stdin!.end(`${input.join('\n')}\n`);
    await run.waitForExit(60_000);
    expect([run.exitCode, run.stderr]).toEqual([0, '']);
    return run.stdout.split('\n').slice(0, input.length);
  }

  it('gives every topic, pattern, queue group name and header name of topics.json its verdict', async () => {
    const file = vectors('topics.json');
    const kinds: Array<[string, string]> = [['topics', 'topic'], ['patterns', 'pattern'], ['queues', 'queue'], ['headerNames', 'header']];
    const cases = kinds.flatMap(([key, word]) => (file[key] as Array<{ value?: string; hex?: string; valid: boolean; code?: string }>).map((entry) => ({ word, entry })));
    expect(cases.length).toBeGreaterThan(100);
    const got = await verdicts(cases.map(({ word, entry }) => `${word} ${entry.hex ?? hexOf(entry.value!)}`));
    const wrong = cases.filter(({ entry }, index) => got[index] !== (entry.valid ? 'valid' : entry.code));
    expect(wrong.map(({ word, entry }) => ({ word, ...entry, got: got[cases.findIndex((other) => other.entry === entry)] }))).toEqual([]);
  });

  it('matches as matching.json says', async () => {
    const cases = vectors('matching.json').cases as Array<{ pattern: string; topic: string; matches: boolean }>;
    const got = await verdicts(cases.map(({ pattern, topic }) => `match ${hexOf(pattern)} ${hexOf(topic)}`));
    expect(cases.filter((entry, index) => got[index] !== (entry.matches ? '1' : '0'))).toEqual([]);
  });

  it('decodes every broker frame of frames.json to the value it holds', async () => {
    const cases = vectors('frames.json').broker as Array<{ name: string; hex: string; value: unknown }>;
    expect(cases.length).toBeGreaterThan(10);
    const got = await verdicts(cases.map(({ hex }) => `frame ${hex}`));
    const decoded = got.map((line) => {
      const [kind, ...json] = line.split(' ');
      return { kind: Number(kind), value: /^\d+$/.test(kind!) ? JSON.parse(json.join(' ')) : line };
    });
    expect(decoded.map(({ value }, index) => ({ name: cases[index]!.name, value }))).toEqual(cases.map(({ name, value }) => ({ name, value })));
    expect(decoded.map(({ kind }) => kind)).toEqual(cases.map(({ value }) => (value as unknown[])[0]));
  });
});

describe('libsockbus against fake brokers', () => {
  it('survives a broker that sends random and mutated frames, reconnecting, under ASan and UBSan (row: fuzz)', async () => {
    let sent = 0;
    const broker = await FakeBroker.start({
      // Only the hostile frames below: no answers of its own mixed in.
      pong: false,
      subscribed: false,
      onWelcomed: (connection) => {
        const timer = setInterval(() => {
          if (connection.socket.destroyed) return clearInterval(timer);
          for (let index = 0; index < 20; index++) {
            connection.sendBytes(hostileFrame());
            sent++;
          }
          if (Math.random() < 0.05) connection.socket.destroy();
        }, 5);
        connection.socket.on('close', () => clearInterval(timer));
      },
    });
    const fuzz = await finished(c('sockbus-fuzz-client', ['socket', broker.path, '4']), 30_000);
    expect([fuzz.exitCode, fuzz.stderr]).toEqual([0, '']);
    expect(fuzz.stdout).toMatch(/^survived: /);
    expect(sent).toBeGreaterThan(500);
    expect(broker.connections).toBeGreaterThan(1);
  });

  it('pings a broker that welcomes and then stays silent, and takes it for hung: BROKER_UNRESPONSIVE', async () => {
    const broker = await FakeBroker.start({ pong: false });
    const silent = await finished(c('sockbus-test-client', ['silent', broker.path]));
    expect([silent.exitCode, silent.stderr]).toEqual([0, '']);
    const [, waited] = silent.stdout.match(/^disconnected BROKER_UNRESPONSIVE after (\d+) ms\n$/) ?? [];
    expect(Number(waited)).toBeGreaterThanOrEqual(400);
    // It pinged before giving up: a client must tell a quiet broker from a hung one.
    expect(broker.frames.filter((frame) => frame[0] === 7)).toEqual([[7, 0]]);
  });

  it('a loop that trusts sockbus_timeout_ms() sleeps while the ping confirming its publishes is out, instead of spinning', async () => {
    const broker = await FakeBroker.start({ pong: false });
    const quiet = await finished(c('sockbus-test-client', ['quiet-loop', broker.path]));
    expect([quiet.exitCode, quiet.stderr]).toEqual([0, '']);
    expect(quiet.stdout).toMatch(/^turns \d+\n$/);
  });

  it('reports dropped notices, an error that ends a subscription (never resubscribed), unconfirmed publishes, and a frame past maxBrokerFrameBytes', async () => {
    const broker = await FakeBroker.start({
      welcome: { maxBrokerFrameBytes: 2048 },
      // It answers pings and subscribes itself, as the scenario needs.
      pong: false,
      subscribed: false,
      onFrame: (connection, frame) => {
        if (frame[0] === 4) connection.send([16, frame[1]]);
        // The first connection never answers pings, so its publishes stay unconfirmed; it answers the
        // first (the publishes' confirmation) with a frame longer than its welcome allows.
        if (frame[0] === 7 && broker.connections > 1) connection.send([8, frame[1]]);
        if (frame[0] === 7 && broker.connections === 1) connection.sendBytes(frameOf(Buffer.alloc(3000, 0xc0)));
        if (frame[0] === 4 && frame[1] === 2 && broker.connections === 1) {
          connection.send([9, 'SOMETHING_NEW', 'a code of a later protocol', null]); // unknown: it does not end the connection
          connection.send([11, 300]);
          connection.send([9, 'ACCESS_DENIED', 'a reloaded policy ended it', { sub: 1 }]);
          connection.send([6, 'a.x', 1, null, null, [0, 1]]);
          connection.send([6, 'b.x', 1, null, null, [0, 1]]);
          // More headers than any broker sends (it refuses such publishes): skipped, not allocated for.
          connection.send([6, 'b.y', 1, Object.fromEntries(Array.from({ length: 65 }, (_, index) => [`h${index}`, ''])), null, null]);
        }
      },
    });
    const notices = await finished(c('sockbus-test-client', ['notices', broker.path]));
    expect([notices.exitCode, notices.stderr]).toEqual([0, '']);
    expect(lines(notices.stdout)).toEqual([
      'status connected',
      'error SOMETHING_NEW sub 0',
      'dropped broker 300',
      'error ACCESS_DENIED sub 1',
      'message b.x sub 2',
      'dropped client 1',
      'unconfirmed 10',
      'status reconnecting MALFORMED_FRAME',
      'status connected',
      'flushed 0',
      'status closing',
      'status closed',
    ]);
    const subscribes = broker.frames.filter((frame) => frame[0] === 4);
    expect(subscribes).toEqual([[4, 1, 'a.>'], [4, 2, 'b.>'], [4, 2, 'b.>']]);
    const publishes = broker.frames.filter((frame) => frame[0] === 3);
    expect(publishes).toHaveLength(10);
  });

  it('gives up after max_reconnect_attempts once the broker is gone, failing what waited, refusing what comes after', async () => {
    const broker = await FakeBroker.start();
    const client = c('sockbus-test-client', ['give-up', broker.path]);
    await waitFor(() => broker.frames.some((frame) => frame[0] === 3), 'the request');
    await broker.stop(); // the socket file goes with it: every reconnect finds nothing
    await finished(client);
    expect([client.exitCode, client.stderr]).toEqual([0, '']);
    expect(lines(client.stdout)).toEqual([
      'status connected',
      'status reconnecting CONNECTION_CLOSED',
      'status closed BROKER_UNAVAILABLE',
      `request failed CONNECTION_CLOSED: the connection to the broker was lost before the reply arrived (the broker on ${broker.path} closed the connection) (request on never.answered)`,
      'publish after giving up: CLIENT_CLOSED',
    ]);
  });

  it('refuses a broker run by another user before sending anything, with UNTRUSTED_BROKER (row: impostor broker)', async () => {
    const copy = readableCopyOfProject();
    const socketPath = join(sharedDirectory(), 'bus.sock');
    const fake = await fakeBrokerAs(BOB, copy, socketPath);
    for (const command of [['pub', 'secrets.plan', '"the plan"'], ['sub', 'secrets.>']]) {
      const cli = await finished(c('sockbus-c', [...command, '--socket', socketPath, '--name', 'secret-name']));
      expect([cli.exitCode, cli.stdout, cli.stderr]).toEqual([1, '', `sockbus-c: the broker on ${socketPath} runs as ${who(BOB)}, not root or you; pass --broker-uid to trust it\n`]);
    }
    const unknown = await finished(c('sockbus-c', ['pub', 'x', '--socket', socketPath, '--broker-uid', 'sockbus-nobody-such']));
    expect([unknown.exitCode, unknown.stderr]).toEqual([1, 'sockbus-c: --broker-uid "sockbus-nobody-such" names no user on this system\n']);
    expect(await fake.seen(2)).toEqual({ connections: 2, closed: 2, bytes: 0 });
  });
});

/** A frame a hostile broker might send: garbage, a mutation of a real one, or a lying length. */
function hostileFrame(): Buffer {
  const real: unknown[][] = [
    [6, 'app.x', { n: 1 }, { k: 'v' }, { sub: 1 }, [0, 1]],
    [6, 'app.y', 'text', null, { reply: 'AAAAAAAAAAAAAAAA', sub: 2 }, null],
    [15, 1, 12, null, null, [0, 1]],
    [15, 2, null, null, { code: 'X', message: 'y' }, null],
    [9, 'INVALID_PATTERN', 'no', { kind: 4, sub: 1 }],
    [16, 1],
    [11, 5],
    [13, 1, { clients: [] }],
    [8, 1],
    [7, 3],
    [10, 'bye'],
  ];
  let body: Buffer;
  if (Math.random() < 0.2) body = Buffer.from(Array.from({ length: 1 + Math.floor(Math.random() * 40) }, () => Math.floor(Math.random() * 256)));
  else {
    body = pack(real[Math.floor(Math.random() * real.length)]!);
    for (let mutations = Math.floor(Math.random() * 3); mutations > 0; mutations--) body[Math.floor(Math.random() * body.length)] = Math.floor(Math.random() * 256);
  }
  const frame = frameOf(body);
  // Now and then a length no sane broker sends: 0, or far past maxBrokerFrameBytes.
  if (Math.random() < 0.01) frame.writeUInt32BE(Math.random() < 0.5 ? 0 : 0xffffffff);
  return frame;
}

describe('libsockbus against a real broker', () => {
  it('checks every feature in one program: wildcards, headers, noEcho, requests, errors, timeouts, stats, retained values, local refusals, clean close', async () => {
    const { socketPath } = await startBroker();
    const features = await finished(c('sockbus-test-client', ['features', socketPath]), 30_000);
    expect(lines(features.stdout).filter((line) => !line.startsWith('ok '))).toEqual([]);
    expect([features.exitCode, features.stderr]).toEqual([0, '']);
    expect(lines(features.stdout).length).toBeGreaterThan(25);
  });

  it('honours every limit of the welcome, and reports the broker\'s refusals through the error callback', async () => {
    const { socketPath } = await startBroker({ args: ['--max-payload', '4096', '--max-subscriptions', '3', '--max-requests', '2', '--max-retained', '1'] });
    const limits = await finished(c('sockbus-test-client', ['limits', socketPath]));
    expect(lines(limits.stdout).filter((line) => !line.startsWith('ok '))).toEqual([]);
    expect([limits.exitCode, limits.stderr]).toEqual([0, '']);
  });

  it('C subscribes and receives what `sockbus pub` and the TypeScript client publish: every type, headers, retained marks, senders (row: interop)', async () => {
    const { socketPath } = await startBroker();
    const ts = await connectClient(socketPath);
    ts.publish('interop.state', 'dark', { retain: true });
    await ts.flush();
    const sub = c('sockbus-c', ['sub', 'interop.>', '--count', '5', '--sender', '--socket', socketPath]);
    await waitFor(() => sub.stderr.includes('subscribed'), 'the C subscriber');
    const pub = startCli(['pub', 'interop.cli', '{"file":"notes.txt","n":[1,2.5,null,true]}', '--header', 'origin=cli', '--socket', socketPath]);
    await pub.waitForExit();
    ts.publish('interop.values', { text: 'héllo 📦', int: -7, big: 2 ** 40, float: 1.5, bytes: Buffer.from([0, 1, 255]), list: [null, true, false] }, { headers: { trace: 'abc' } });
    ts.publish('interop.deep.topic', 'matched by >');
    ts.publish('interop.escape', 'line\nbreak\u2028\x1b[2K');
    await sub.waitForExit();
    expect([sub.exitCode, sub.stderr]).toEqual([0, `sockbus-c: subscribed to interop.>\n`]);
    const received = lines(sub.stdout).map((line) => JSON.parse(line));
    const me = process.getuid!();
    expect(received).toEqual([
      { topic: 'interop.state', data: 'dark', headers: {}, retained: true, sender: { uid: me, pid: process.pid } },
      { topic: 'interop.cli', data: { file: 'notes.txt', n: [1, 2.5, null, true] }, headers: { origin: 'cli' }, sender: { uid: me, pid: pub.pid } },
      {
        topic: 'interop.values',
        data: { text: 'héllo 📦', int: -7, big: 2 ** 40, float: 1.5, bytes: { $base64: 'AAH/' }, list: [null, true, false] },
        headers: { trace: 'abc' },
        sender: { uid: me, pid: process.pid },
      },
      { topic: 'interop.deep.topic', data: 'matched by >', headers: {}, sender: { uid: me, pid: process.pid } },
      { topic: 'interop.escape', data: 'line\nbreak\u2028\x1b[2K', headers: {}, sender: { uid: me, pid: process.pid } },
    ]);
    // The line itself is safe on a terminal, as the TS CLI's: no raw escape, no raw line separator.
    expect(sub.stdout).toContain('"line\\nbreak\\u2028\\u001b[2K"');
  });

  it('C publishes every MessagePack type with headers and retain, and the TypeScript client reads each exactly (row: interop)', async () => {
    const { socketPath } = await startBroker();
    const ts = await connectClient(socketPath);
    const inbox = await collect(ts, 'ctypes.>');
    const pub = await finished(c('sockbus-test-client', ['types', socketPath, 'ctypes.all']));
    expect([pub.exitCode, pub.stdout, pub.stderr]).toEqual([0, 'published\n', '']);
    await waitForCount(inbox, 7);
    const [all, ...rest] = inbox;
    expect(all!.headers).toEqual({ trace: 'abc', lang: 'c' });
    expect(all!.sender).toEqual({ uid: process.getuid!(), pid: pub.pid });
    const data = all!.data as Record<string, unknown>;
    expect({ ...data, ext: undefined }).toEqual({
      nil: null, true: true, false: false, small: 7, negative: -7, u16: 65535, u32: 4294967295, big: 2 ** 40, bigNegative: -(2 ** 40),
      double: 1.5, float: 0.25, text: 'héllo 📦', empty: '', bytes: Buffer.from([0, 1, 255]), list: [1, 'a', {}], ext: undefined,
    });
    // An ext type the receiver does not know arrives as its type and bytes (PROTOCOL.md §3.0).
    expect(data['ext']).toMatchObject({ type: 42, data: Buffer.from([1, 2, 3]) });
    expect(rest.map((message) => [message.topic, message.data])).toEqual([
      ['ctypes.all', 'plain'], ['ctypes.all', -42], ['ctypes.all', 2.5], ['ctypes.all', null], ['ctypes.all', { obj: true }], ['ctypes.all.retained', 'kept'],
    ]);
    const later = await collect(await connectClient(socketPath), 'ctypes.all.retained');
    await waitForCount(later, 1);
    expect([later[0]!.data, later[0]!.retained]).toEqual(['kept', true]);
  });

  it('sockbus-c pub feeds `sockbus sub`, one message per line of standard input too (row: interop)', async () => {
    const { socketPath } = await startBroker();
    const sub = startCli(['sub', 'feed.>', '--count', '4', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 1);
    const one = await finished(c('sockbus-c', ['pub', 'feed.json', '{"a":[1,"b"]}', '--header', 'k=v', '--socket', socketPath]));
    expect([one.exitCode, one.stderr]).toEqual([0, '']);
    const lineByLine = c('sockbus-c', ['pub', 'feed.lines', '-', '--socket', socketPath]);
    lineByLine.process.stdin!.end('1\ntext\n{"x":null}\n');
    await lineByLine.waitForExit();
    expect([lineByLine.exitCode, lineByLine.stderr]).toEqual([0, '']);
    await sub.waitForExit();
    expect(lines(sub.stdout)).toEqual([
      '{"topic":"feed.json","data":{"a":[1,"b"]},"headers":{"k":"v"}}',
      '{"topic":"feed.lines","data":1,"headers":{}}',
      '{"topic":"feed.lines","data":"text","headers":{}}',
      '{"topic":"feed.lines","data":{"x":null},"headers":{}}',
    ]);
  });

  it('requests cross both ways, with errors, codes and NO_RESPONDERS (row: interop)', async () => {
    const { socketPath } = await startBroker();
    const ts = await connectClient(socketPath);
    ts.subscribe('ts.double', (message) => message.respond((message.data as number) * 2, { headers: { by: 'ts' } }));
    ts.subscribe('ts.fail', (message) => message.respondError('refused\x1b[2K', { code: 'BAD_INPUT' }));
    await ts.flush();
    const asked = await finished(c('sockbus-c', ['req', 'ts.double', '21', '--socket', socketPath]));
    expect([asked.exitCode, asked.stdout, asked.stderr]).toEqual([0, '{"data":42,"headers":{"by":"ts"}}\n', '']);
    const refused = await finished(c('sockbus-c', ['req', 'ts.fail', '--socket', socketPath]));
    expect([refused.exitCode, refused.stderr]).toEqual([1, 'sockbus-c: refused\\x1b[2K\n']);
    const nobody = await finished(c('sockbus-c', ['req', 'nobody.home', '--socket', socketPath]));
    expect([nobody.exitCode, nobody.stderr]).toEqual([1, 'sockbus-c: no responders: nothing subscribes to nobody.home\n']);
    const clients = await finished(c('sockbus-c', ['clients', '--name', 'the-lister', '--socket', socketPath]));
    expect(clients.exitCode).toBe(0);
    expect((JSON.parse(clients.stdout) as Array<{ name: string }>).map((client) => client.name)).toContain('the-lister');

    const responder = c('sockbus-c', ['reply', 'c.upper', '"ANSWER"', '--count', '1', '--socket', socketPath]);
    await waitFor(() => responder.stderr.includes('subscribed'), 'the C responder');
    const reply = await ts.request('c.upper', 'answer');
    expect(reply).toEqual({ data: 'ANSWER' });
    expect(reply.sender).toEqual({ uid: process.getuid!(), pid: responder.pid });
    await responder.waitForExit();
    expect([responder.exitCode, responder.stdout]).toEqual([0, '{"topic":"c.upper","data":"answer","headers":{}}\n']);
  });

  it('queue groups: each message reaches one C member, while a plain C subscriber gets every one (row: interop)', async () => {
    const { socketPath } = await startBroker();
    const members = [0, 1].map(() => c('sockbus-c', ['sub', 'jobs.>', '--queue', 'resizers', '--socket', socketPath]));
    const everything = c('sockbus-c', ['sub', 'jobs.>', '--count', '20', '--socket', socketPath]);
    await waitFor(() => [...members, everything].every((child) => child.stderr.includes('subscribed')), 'three C subscribers');
    const ts = await connectClient(socketPath);
    for (let index = 0; index < 20; index++) ts.publish('jobs.resize', index);
    await ts.flush();
    await everything.waitForExit();
    expect(lines(everything.stdout)).toHaveLength(20);
    await waitFor(() => members.reduce((sum, member) => sum + lines(member.stdout).length, 0) === 20, 'the members to get 20 between them');
    const shares = members.map((member) => lines(member.stdout).map((line) => JSON.parse(line).data as number));
    expect(shares.every((share) => share.length > 0)).toBe(true);
    expect([...shares[0]!, ...shares[1]!].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, index) => index));
  });

  it('reconnects across a broker SIGKILL: the offline queue keeps the newest, drops are counted, subscriptions, queue groups, a request and a flush made while away come back (row: reconnect)', async () => {
    const broker = await startBroker();
    const client = c('sockbus-test-client', ['offline', broker.socketPath, '8', '6']);
    await waitFor(() => client.stdout.includes('connected\n'), 'the C client to connect');
    await broker.child.kill('SIGKILL');
    await waitFor(() => client.stdout.includes('queued\n'), 'the C client to queue while the broker is down');
    // Eight publishes and a request in a queue of six: the three oldest give way, each reported.
    expect(lines(client.stdout)).toEqual(['connected', 'disconnected CONNECTION_CLOSED', ...Array(3).fill('dropped 1: the offline queue was full'), 'queued']);
    await restartBroker(broker);
    const ts = await connectClient(broker.socketPath);
    const inbox = await collect(ts, 'offline.n');
    ts.subscribe('offline.ask', (message) => message.respond((message.data as number) * 10));
    await ts.flush();
    client.process.stdin!.write('go\n');
    await waitFor(() => client.stdout.includes('reconnected\n'), 'the C client to reconnect');
    await waitForCount(inbox, 5);
    expect(inbox.map((message) => message.data)).toEqual([3, 4, 5, 6, 7]);
    await waitForSubscriptions(broker.socketPath, 4);
    ts.publish('back.again', 'resubscribed');
    ts.publish('shared', 'queue group');
    await finished(client);
    expect([client.exitCode, client.stderr]).toEqual([0, '']);
    // The flush and the request went out after the welcome; the reply may come before or after `reconnected`.
    expect(lines(client.stdout).slice(6, 9).sort()).toEqual(['flushed after the reconnect', 'reconnected', 'reply 50']);
    expect(lines(client.stdout).slice(9)).toEqual([
      'received back.again "resubscribed"',
      'received shared "queue group"',
      'ok the watch callback saw the descriptor go and come back',
      'reconnects 1 dropped 3',
    ]);
  });

  it('sockbus-c sub keeps receiving after the broker is killed and restarted', async () => {
    const broker = await startBroker();
    const sub = c('sockbus-c', ['sub', 'restart.>', '--count', '2', '--socket', broker.socketPath]);
    await waitFor(() => sub.stderr.includes('subscribed'), 'the C subscriber');
    (await connectClient(broker.socketPath)).publish('restart.before', 1);
    await waitFor(() => sub.stdout.includes('restart.before'), 'the first message');
    await broker.child.kill('SIGKILL');
    await restartBroker(broker);
    await waitFor(() => sub.stderr.includes('reconnected'), 'the C client to reconnect');
    await waitForSubscriptions(broker.socketPath, 1);
    (await connectClient(broker.socketPath)).publish('restart.after', 2);
    await sub.waitForExit();
    expect(sub.stdout).toBe('{"topic":"restart.before","data":1,"headers":{}}\n{"topic":"restart.after","data":2,"headers":{}}\n');
    expect(sub.stderr).toMatch(/^sockbus-c: subscribed to restart\.>\nsockbus-c: disconnected: .*; reconnecting\nsockbus-c: reconnected\n$/);
  });

  it('trusts the broker user broker_uid or $SOCKBUS_BROKER_UID names (row: impostor broker)', async () => {
    const copy = readableCopyOfProject();
    const { socketPath } = await brokerAsBob(copy);
    const inbox = await collect(await connectClient(socketPath, { brokerUid: BOB }), 'trusted');
    const byOption = await finished(c('sockbus-c', ['pub', 'trusted', '"by option"', '--broker-uid', BOB, '--socket', socketPath]));
    expect([byOption.exitCode, byOption.stderr]).toEqual([0, '']);
    const byEnvironment = await finished(c('sockbus-c', ['pub', 'trusted', '"by environment"', '--socket', socketPath], { SOCKBUS_BROKER_UID: BOB }));
    expect([byEnvironment.exitCode, byEnvironment.stderr]).toEqual([0, '']);
    const wrong = await finished(c('sockbus-c', ['pub', 'trusted', '1', '--socket', socketPath], { SOCKBUS_BROKER_UID: 'root' }));
    expect([wrong.exitCode, wrong.stderr]).toEqual([1, `sockbus-c: the broker on ${socketPath} runs as ${who(BOB)}, not root (uid 0) as $SOCKBUS_BROKER_UID asks, nor root or you\n`]);
    await waitForCount(inbox, 2);
    expect(inbox.map((message) => message.data)).toEqual(['by option', 'by environment']);
  });

  it('checks again on every reconnect: an impostor that binds the path while the broker is down gets nothing, and the client goes back to the real one (row: impostor between stop and start)', async () => {
    const copy = readableCopyOfProject();
    const socketPath = join(sharedDirectory(), 'bus.sock');
    const broker = await startBroker({ socketPath });
    const sub = c('sockbus-c', ['sub', 'real.>', '--count', '1', '--socket', socketPath]);
    await waitFor(() => sub.stderr.includes('subscribed'), 'the C subscriber');
    await broker.child.kill('SIGTERM'); // a clean stop removes the socket file: the path is free for anyone
    const fake = await fakeBrokerAs(BOB, copy, socketPath);
    const refusal = `sockbus-c: UNTRUSTED_BROKER: the broker on ${socketPath} runs as ${who(BOB)}, not root or you; pass --broker-uid to trust it\n`;
    await waitFor(() => sub.stderr.split(refusal).length > 2, 'two refused reconnects');
    expect((await fake.seen(2)).bytes).toBe(0); // asked before the kill: a killed fake reports nothing more
    await fake.child.kill();
    await startBroker({ socketPath });
    await waitFor(() => sub.stderr.includes('reconnected'), 'the C subscriber to reconnect to the real broker');
    await waitForSubscriptions(socketPath, 1);
    (await connectClient(socketPath)).publish('real.back', 'from the real broker');
    await sub.waitForExit();
    expect([sub.exitCode, sub.stdout]).toEqual([0, '{"topic":"real.back","data":"from the real broker","headers":{}}\n']);
  });

  it('runs in a poll() loop and in a GLib main loop, both started before the broker (examples)', async () => {
    const socketPath = join(makeTempDir(), 'bus.sock');
    const glib = c('example-glib', ['--socket', socketPath, 'glib.>', '2']);
    const poll = c('example-poll', ['poll.>'], { SOCKBUS_SOCKET: socketPath });
    await startBroker({ socketPath });
    await waitFor(() => glib.stderr.includes('subscribed'), 'the GLib example to subscribe');
    await waitForSubscriptions(socketPath, 2);
    const ts = await connectClient(socketPath);
    ts.publish('glib.one', 'x');
    ts.publish('poll.one', { n: 1 });
    ts.publish('glib.two', 'y');
    await glib.waitForExit();
    expect([glib.exitCode, glib.stdout, glib.stderr]).toEqual([0, 'glib.one 2\nglib.two 2\n', 'example-glib: subscribed\n']);
    await waitFor(() => poll.stdout.includes('poll.one'), 'the poll example');
    expect(poll.stdout).toBe('poll.one (4 bytes of data)\n');
    expect(poll.stderr).toBe('example-poll: connected\n');
    const ticks = await collect(ts, 'example.tick');
    await waitForCount(ticks, 1, 'ticks from the poll example', 5000);
  });

  it('is leak-free and error-free under valgrind: the feature run, the CLI, a broker going away for good (row: valgrind)', async () => {
    const { socketPath } = await startBroker();
    const features = await finished(valgrind('sockbus-test-client', ['features', socketPath]), 120_000);
    expect([features.exitCode, features.stderr]).toEqual([0, '']);
    const sub = valgrind('sockbus-c', ['sub', 'vg.>', '--count', '1', '--socket', socketPath]);
    await waitFor(() => sub.stderr.includes('subscribed'), 'the subscriber under valgrind', 30_000);
    const pub = await finished(valgrind('sockbus-c', ['pub', 'vg.x', '{"a":1}', '--socket', socketPath]), 60_000);
    expect([pub.exitCode, pub.stderr]).toEqual([0, '']);
    await sub.waitForExit(60_000);
    expect([sub.exitCode, sub.stdout]).toEqual([0, '{"topic":"vg.x","data":{"a":1},"headers":{}}\n']);
    const req = await finished(valgrind('sockbus-c', ['req', 'nobody', '--socket', socketPath]), 60_000);
    expect([req.exitCode, req.stderr]).toEqual([1, 'sockbus-c: no responders: nothing subscribes to nobody\n']);
    // The paths a broker going away takes: a reconnect, requests failed, giving up.
    const fake = await FakeBroker.start();
    const givingUp = valgrind('sockbus-test-client', ['give-up', fake.path]);
    await waitFor(() => fake.frames.some((frame) => frame[0] === 3), 'the request under valgrind', 30_000);
    await fake.stop();
    await finished(givingUp, 60_000);
    expect([givingUp.exitCode, givingUp.stderr]).toEqual([0, '']);
    expect(givingUp.stdout).toContain('status closed BROKER_UNAVAILABLE\n');
  }, 240_000);
});

