import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { FakeBroker, frameOf, type FakeConnection } from '../helpers/fake-broker.js';
import { events, jsonLines, pythonScript, REPORTING } from './python.js';

/**
 * The Python client against a broker in the test process that sends exactly
 * what each case needs: frames a real broker sends only in a race (a live
 * message before `[16, id]`), or never (an oversized frame).
 */


describe('the handshake', () => {
  it('hello says version 2, the name and noEcho; the welcome\'s keys are kept', async () => {
    const broker = await FakeBroker.start({ welcome: { senders: false, keepaliveMs: 1234 } });
    const script = pythonScript(
      `bus = sockbus.connect(sys.argv[1], "editor", no_echo=True)
print(bus.welcome["senders"], bus.welcome["keepaliveMs"], bus.limits["maxBrokerFrameBytes"])
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect([script.stdout, script.stderr]).toEqual(['False 1234 1049600\n', '']);
    expect(broker.accepted[0]!.hello).toEqual({ version: 2, name: 'editor', noEcho: true });
  });
});

describe('bounded reads (issue 13: the frame reader had no size limit)', () => {
  it('a length prefix past the welcome\'s maxBrokerFrameBytes closes the connection, is reported, and the client reconnects', async () => {
    const broker = await FakeBroker.start({
      welcome: { maxBrokerFrameBytes: 1000 },
      onFrame: (connection, frame) => {
        // Only the prefix and a few bytes: a client that trusts the length waits for 2 GB that never come.
        if (frame[0] === 3 && connection.id === 1) connection.sendBytes(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x96, 0x06]));
      },
    });
    const script = pythonScript(
      `${REPORTING}
bus = connect()
bus.publish("big.please", 1)
until(lambda: bus.counters.reconnects == 1, "the reconnect")
say(event="state", state=bus.state)
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    const lines = jsonLines(script);
    expect([script.exitCode, script.stderr]).toEqual([0, '']);
    const tooLarge = 'bad frame from the broker: a frame of 2147483647 bytes, more than the 1000 it may send (maxBrokerFrameBytes)';
    expect(events(lines, 'error')).toEqual([{ event: 'error', code: 'FRAME_TOO_LARGE', message: tooLarge, about: null }]);
    expect(events(lines, 'disconnect')).toEqual([{ event: 'disconnect', code: 'FRAME_TOO_LARGE', message: tooLarge }]);
    expect(events(lines, 'state')).toEqual([{ event: 'state', state: 'connected' }]);
    expect(broker.connections).toBe(2);
  });

  it('before the welcome, a frame past 64 KiB is refused: connect() raises FRAME_TOO_LARGE instead of buffering it', async () => {
    const broker = await FakeBroker.start({ welcome: { padding: 'x'.repeat(70_000) } });
    const script = pythonScript(
      `try:
    sockbus.connect(sys.argv[1])
except sockbus.SockbusError as error:
    print(error.code, error.message)`,
      [broker.path],
    );
    await script.waitForExit();
    expect(script.stdout).toMatch(/^FRAME_TOO_LARGE bad frame from the broker: a frame of 70\d{3} bytes, more than the 65536 it may send \(maxBrokerFrameBytes\)\n$/);
  });
});

describe('section 3.7: dispatch by the subscribed frame and by sub', () => {
  it('a plain delivery before [16, id] is not the new subscription\'s; after it, it is; a sub it no longer holds is dropped silently', async () => {
    const broker = await FakeBroker.start({
      subscribed: false,
      onFrame: (connection, frame) => {
        if (frame[0] !== 4) return;
        const id = frame[1] as number;
        connection.send([6, 'app.x', 'routed before the subscribe', null, null, [1000, 1]]);
        connection.send([16, id]);
        connection.send([6, 'app.x', 'live', null, null, [1000, 1]]);
        connection.send([6, 'app.x', 'for a subscription it never had', null, { sub: 999 }, [1000, 1]]);
      },
    });
    const script = pythonScript(
      `${REPORTING}
bus = connect()
seen = []
subscription = bus.subscribe("app.*", lambda message: seen.append(message.data))
bus.flush()
say(event="state", state=subscription.state)
say(event="seen", data=seen)
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect([script.exitCode, script.stderr]).toEqual([0, '']);
    expect(jsonLines(script)).toEqual([
      { event: 'state', state: 'active' },
      { event: 'seen', data: ['live'] },
    ]);
  });

  it('a queue group member gets only the deliveries marked with its sub, and retained replays carry theirs', async () => {
    const broker = await FakeBroker.start({
      onFrame: (connection, frame) => {
        if (frame[0] !== 7) return;
        connection.send([6, 'jobs', 'plain copy', null, null, null]);
        connection.send([6, 'jobs', 'member share', null, { sub: 2 }, null]);
        connection.send([6, 'jobs', 'replay', null, { sub: 1, retained: true }, null]);
      },
    });
    const script = pythonScript(
      `${REPORTING}
bus = connect()
seen = []
bus.subscribe("jobs", lambda message: seen.append(["plain", message.data, message.retained]))
bus.subscribe("jobs", lambda message: seen.append(["member", message.data, message.subscription_id]), queue="w")
bus.flush()
until(lambda: len(seen) == 3, "three deliveries")
say(event="seen", data=seen)
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect([script.exitCode, script.stderr]).toEqual([0, '']);
    expect(jsonLines(script)).toEqual([
      { event: 'seen', data: [['plain', 'plain copy', false], ['member', 'member share', 2], ['plain', 'replay', true]] },
    ]);
    expect(broker.latest!.framesOf(4)).toEqual([[4, 1, 'jobs'], [4, 2, 'jobs', { queue: 'w' }]]);
  });
});

describe('section 3.8: about says which frame an error answers', () => {
  it('about.sub: the refused subscription is forgotten, and not subscribed again after a reconnect; about.inUse leaves it held', async () => {
    const broker = await FakeBroker.start({
      onFrame: (connection, frame) => {
        if (frame[0] !== 4 || connection.id !== 1) return;
        const [, id, pattern] = frame as [number, number, string];
        if (pattern === 'denied.>') connection.send([9, 'ACCESS_DENIED', 'no', { kind: 4, sub: id }]);
        if (pattern === 'kept.>') {
          connection.send([9, 'SUBSCRIPTION_ID_IN_USE', 'subscription 2 is already held', { kind: 4, inUse: id }]);
          connection.send([6, 'kept.x', 'still held', null, null, null]);
        }
      },
    });
    const script = pythonScript(
      `${REPORTING}
bus = connect()
seen = []
denied = bus.subscribe("denied.>", lambda message: seen.append(message.data))
kept = bus.subscribe("kept.>", lambda message: seen.append(message.data))
bus.flush()
until(lambda: seen, "the delivery")
say(event="states", denied=denied.state, kept=kept.state, why=denied.error.code, data=seen)
bus._state.session.socket.shutdown(2)
until(lambda: bus.counters.reconnects == 1, "the reconnect")
bus.flush()
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect(script.stderr).toBe('');
    const lines = jsonLines(script);
    expect(events(lines, 'error')).toEqual([
      { event: 'error', code: 'ACCESS_DENIED', message: 'no', about: { kind: 4, sub: 1 } },
      { event: 'error', code: 'SUBSCRIPTION_ID_IN_USE', message: 'subscription 2 is already held', about: { kind: 4, inUse: 2 } },
    ]);
    expect(events(lines, 'states')).toEqual([{ event: 'states', denied: 'ended', kept: 'active', why: 'ACCESS_DENIED', data: ['still held'] }]);
    await waitFor(() => broker.connections === 2, 'the second connection');
    expect(broker.latest!.framesOf(4)).toEqual([[4, 2, 'kept.>']]);
  });
});

describe('section 3.12: requests and answers', () => {
  const answering = (error: Record<string, string>) => (connection: FakeConnection, frame: unknown[]) => {
    const options = frame[4] as { request?: number } | undefined;
    if (frame[0] === 3 && options?.request !== undefined) connection.send([15, options.request, null, null, error, null]);
  };

  it('a refused request comes back as a reply carrying the error: request() raises its code at once', async () => {
    const broker = await FakeBroker.start({ onFrame: answering({ code: 'ACCESS_DENIED', message: 'peer uid 1000 may not publish on secret.x' }) });
    const script = pythonScript(
      `import time
bus = sockbus.connect(sys.argv[1])
started = time.monotonic()
try:
    bus.request("secret.x", 1, timeout=20)
except sockbus.SockbusError as error:
    print(error.code, error.message, time.monotonic() - started < 5)
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect([script.stdout, script.stderr]).toEqual(['ACCESS_DENIED peer uid 1000 may not publish on secret.x True\n', '']);
  });

  it('a request pending when close() is called fails with CLIENT_CLOSED, not CONNECTION_CLOSED', async () => {
    const broker = await FakeBroker.start();
    const script = pythonScript(
      `import threading, time
bus = sockbus.connect(sys.argv[1])
failures = []
def ask():
    try:
        bus.request("never.answered", 1, timeout=20)
    except sockbus.SockbusError as error:
        failures.append((error.code, error.message))
asker = threading.Thread(target=ask)
asker.start()
while not bus._state.requests:
    time.sleep(0.005)
bus.close()
asker.join()
print(*failures[0])`,
      [broker.path],
    );
    await script.waitForExit();
    expect([script.stdout, script.stderr]).toEqual(['CLIENT_CLOSED the client was closed before the answer to the request on never.answered arrived\n', '']);
  });

  it('a request nobody answers fails with REQUEST_TIMEOUT, not TIMEOUT (TIMEOUT is the broker\'s)', async () => {
    const broker = await FakeBroker.start();
    const script = pythonScript(
      `bus = sockbus.connect(sys.argv[1])
try:
    bus.request("slow", 1, timeout=0.2)
except sockbus.SockbusError as error:
    print(error.code, error.message)
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect([script.stdout, script.stderr]).toEqual(['REQUEST_TIMEOUT no reply to the request on slow within 200 ms\n', '']);
  });

  it('respond_error() without a code leaves it out, for the broker to fill in REQUEST_FAILED', async () => {
    const broker = await FakeBroker.start({
      onFrame: (connection, frame) => {
        if (frame[0] === 4) connection.send([6, 'disk.write', null, null, { reply: 'q3Zr0F8mTbW2xYk9', sub: frame[1] }, [1000, 4242]]);
      },
    });
    const script = pythonScript(
      `import time
bus = sockbus.connect(sys.argv[1])
done = []
def answer(request):
    request.respond_error("disk full")
    request.respond_error("still full", code="DISK_FULL")
    done.append(True)
bus.subscribe("disk.>", answer)
while not done:
    time.sleep(0.005)
bus.flush()
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect(script.stderr).toBe('');
    expect(broker.latest!.framesOf(14)).toEqual([
      [14, 'q3Zr0F8mTbW2xYk9', null, null, { message: 'disk full' }],
      [14, 'q3Zr0F8mTbW2xYk9', null, null, { code: 'DISK_FULL', message: 'still full' }],
    ]);
  });
});

describe('sending errors are never swallowed (issue 13: OSError when sending was dropped without a word)', () => {
  it('publishes whose write fails with OSError are queued and sent after the reconnect, in order', async () => {
    const broker = await FakeBroker.start();
    const script = pythonScript(
      `${REPORTING}
import socket
bus = connect()
bus.publish("before", 0)
bus.flush()
# From here every write fails with EPIPE: the socket's sending side is shut.
bus._state.session.socket.shutdown(socket.SHUT_WR)
for n in range(1, 6):
    bus.publish("after", n)
say(event="queued", offline=len(bus._state.offline), dropped=bus.dropped)
bus.flush()
say(event="counters", dropped=bus.dropped, unconfirmed=bus.counters.unconfirmed, reconnects=bus.counters.reconnects)
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect(script.stderr).toBe('');
    const lines = jsonLines(script);
    expect(events(lines, 'queued')).toEqual([{ event: 'queued', offline: 5, dropped: 0 }]);
    expect(events(lines, 'counters')).toEqual([{ event: 'counters', dropped: 0, unconfirmed: 0, reconnects: 1 }]);
    expect(events(lines, 'dropped')).toEqual([]);
    expect(broker.connections).toBe(2);
    const [first, second] = broker.accepted;
    expect(first!.framesOf(3)).toEqual([[3, 'before', 0]]);
    expect(second!.framesOf(3)).toEqual([1, 2, 3, 4, 5].map((n) => [3, 'after', n]));
  });

  it('with no callbacks given, what the offline queue cannot hold is said on stderr and counted in bus.dropped', async () => {
    const broker = await FakeBroker.start();
    const script = pythonScript(
      `import socket
bus = sockbus.connect(sys.argv[1], offline_queue_messages=1, reconnect_policy=lambda attempt: 30.0)
bus._state.session.socket.shutdown(socket.SHUT_WR)
for n in range(3):
    bus.publish("n", n)
print(bus.dropped, bus.counters.dropped_by_client)
bus.close(timeout=0.1)`,
      [broker.path],
    );
    await script.waitForExit();
    expect(script.stdout).toBe('2 2\n');
    const full = 'sockbus: 1 message(s) lost (client): the offline queue was full while disconnected (1 messages, 8388608 bytes at most)\n';
    expect(script.stderr).toBe(full + full + 'sockbus: 1 message(s) lost (client): the client was closed before it could send them to a broker\n');
  });

  it('a replay cut short by a failed write: what went whole is unconfirmed, the rest is sent on the next connection, in order', async () => {
    const broker = await FakeBroker.start();
    const script = pythonScript(
      `${REPORTING}
import socket
bus = connect(reconnect_policy=lambda attempt: 0.3)
bus.flush()
real_send = sockbus.session.send_counting
cut = {"armed": True}
def failing_once(sock, data):
    # The replay of the three queued publishes: let the first through whole and 3 bytes of the second, then fail.
    if cut["armed"] and data.count(b"queued") == 3:
        cut["armed"] = False
        first = 4 + int.from_bytes(data[:4], "big")
        sent, _ = real_send(sock, data[:first + 3])
        return sent, BrokenPipeError(32, "Broken pipe (injected)")
    return real_send(sock, data)
sockbus.session.send_counting = failing_once
bus._state.session.socket.shutdown(socket.SHUT_WR)
for n in range(3):
    bus.publish("queued", n)
until(lambda: bus.counters.reconnects == 2, "two reconnects")
bus.flush()
say(event="counters", unconfirmed=bus.counters.unconfirmed, dropped=bus.dropped, armed=cut["armed"])
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect(script.stderr).toBe('');
    expect(events(jsonLines(script), 'counters')).toEqual([{ event: 'counters', unconfirmed: 1, dropped: 0, armed: false }]);
    expect(broker.accepted.map((connection) => connection.framesOf(3))).toEqual([[], [[3, 'queued', 0]], [[3, 'queued', 1], [3, 'queued', 2]]]);
  });

  it('publishes written to a connection that dies before its pong are reported as unconfirmed, not lost in silence', async () => {
    const broker = await FakeBroker.start({
      pong: false,
      onFrame: (connection, frame) => {
        // Behind the three publishes: the broker read them all, and dies before any pong.
        if (frame[0] === 12) connection.socket.destroy();
      },
    });
    const script = pythonScript(
      `${REPORTING}
bus = connect()
for n in range(1, 4):
    bus.publish("n", n)
try:
    bus.stats()
except sockbus.SockbusError as error:
    say(event="stats", code=error.code)
until(lambda: bus.counters.reconnects == 1, "the reconnect")
say(event="counters", unconfirmed=bus.counters.unconfirmed)
bus.close(timeout=0.1)`,
      [broker.path],
    );
    await script.waitForExit();
    const lines = jsonLines(script);
    expect(events(lines, 'dropped')[0]).toEqual({
      event: 'dropped',
      source: 'connection',
      count: 3,
      reason: 'the connection ended before the broker confirmed these publishes; they may or may not have been delivered',
    });
    expect(events(lines, 'stats')).toEqual([{ event: 'stats', code: 'CONNECTION_CLOSED' }]);
    expect(events(lines, 'counters')).toEqual([{ event: 'counters', unconfirmed: 3 }]);
    expect(broker.accepted[1]!.framesOf(3)).toEqual([]);
  });

  it('a clean close after publishes reports nothing lost', async () => {
    const broker = await FakeBroker.start();
    const script = pythonScript(
      `${REPORTING}
bus = connect()
for n in range(10):
    bus.publish("n", n)
bus.close()
say(event="counters", counters=bus.counters.as_dict())`,
      [broker.path],
    );
    await script.waitForExit();
    expect(script.stderr).toBe('');
    const [line] = jsonLines(script);
    expect(line.counters).toMatchObject({ published: 10, unconfirmed: 0, dropped_by_client: 0 });
    await waitFor(() => broker.connections === 1 && (broker.latest?.framesOf(10).length ?? 1) === 1, 'the goodbye');
  });
});

describe('a hung broker', () => {
  it('flush() raises BROKER_UNRESPONSIVE when the broker leaves its ping unanswered, and the client redials', async () => {
    const broker = await FakeBroker.start({ pong: false });
    const script = pythonScript(
      `${REPORTING}
bus = connect(ping_interval=0.2, ping_timeout=0.2)
try:
    bus.flush(timeout=5)
except sockbus.SockbusError as error:
    say(event="flush", code=error.code, message=error.message)
bus.close(timeout=0.1)`,
      [broker.path],
    );
    await script.waitForExit();
    const lines = jsonLines(script);
    expect(events(lines, 'flush')).toHaveLength(1);
    expect(events(lines, 'flush')[0].code).toBe('CONNECTION_CLOSED');
    expect(events(lines, 'flush')[0].message).toMatch(/^the connection to the broker was lost before the answer to a ping arrived \(the broker on .* left a ping unanswered for \d+ ms; it may be hung\)$/);
    expect(events(lines, 'error')[0].code).toBe('BROKER_UNRESPONSIVE');
  });

  it('flush() with a timeout shorter than the heartbeat raises BROKER_UNRESPONSIVE itself', async () => {
    const broker = await FakeBroker.start({ pong: false });
    const script = pythonScript(
      `bus = sockbus.connect(sys.argv[1])
try:
    bus.flush(timeout=0.2)
except sockbus.SockbusError as error:
    print(error.code, error.message)
bus.close(timeout=0.1)`,
      [broker.path],
    );
    await script.waitForExit();
    expect(script.stdout).toBe(`BROKER_UNRESPONSIVE the broker on ${broker.path} did not answer a ping within 200 ms; it may be hung\n`);
  });
});

describe('section 3.0: what a client must accept', () => {
  it('an unknown extension type reaches the application as msgpack.ExtType and is published back as the same bytes; unknown kinds and extra elements are ignored', async () => {
    // [6, "ext.in", <ext 42: 01 02 03 04>, nil, nil, nil, "extra"], after a kind from a later version.
    const delivery = Buffer.from('9706a66578742e696ed62a01020304c0c0c0a56578747261', 'hex');
    const broker = await FakeBroker.start({
      onFrame: (connection, frame) => {
        if (frame[0] !== 4) return;
        connection.send([77, 'a kind from a later version']);
        connection.sendBytes(frameOf(delivery));
      },
    });
    const script = pythonScript(
      `${REPORTING}
import msgpack
bus = connect()
seen = []
bus.subscribe("ext.>", lambda message: seen.append(message.data))
until(lambda: seen, "the delivery")
say(event="seen", ext=[seen[0].code, seen[0].data.hex()], is_ext=isinstance(seen[0], msgpack.ExtType))
bus.publish("ext.out", seen[0])
bus.flush()
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect(script.stderr).toBe('');
    expect(jsonLines(script)).toEqual([{ event: 'seen', ext: [42, '01020304'], is_ext: true }]);
    // [3, "ext.out", <ext 42: 01 02 03 04>]
    expect(broker.latest!.bodies.map((body) => body.toString('hex'))).toContain('93' + '03' + 'a7' + Buffer.from('ext.out').toString('hex') + 'd62a01020304');
  });
});

describe('frames the client cannot use', () => {
  it('a well-framed delivery it cannot decode or of the wrong shape is reported and counted as dropped; the connection goes on', async () => {
    const broker = await FakeBroker.start({
      onFrame: (connection, frame) => {
        if (frame[0] !== 4) return;
        connection.sendBytes(frameOf(Buffer.from('9306a178c1', 'hex'))); // 0xc1 is never msgpack
        connection.send([6, 'x', 1]); // a message of three elements, not six
        connection.send([8, 'not a token']); // not a delivery: reported, not counted
        connection.send([6, 'x', 'fine', null, null, null]);
      },
    });
    const script = pythonScript(
      `${REPORTING}
bus = connect()
seen = []
bus.subscribe("x", lambda message: seen.append(message.data))
until(lambda: seen, "the good delivery")
say(event="seen", data=seen, dropped=bus.counters.dropped_by_client, reconnects=bus.counters.reconnects)
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect(script.stderr).toBe('');
    const lines = jsonLines(script);
    expect(events(lines, 'error').map((line) => line.code)).toEqual(['MALFORMED_FRAME', 'INVALID_MESSAGE', 'INVALID_MESSAGE']);
    expect(events(lines, 'dropped').map((line) => [line.source, line.count])).toEqual([['client', 1], ['client', 1]]);
    expect(events(lines, 'seen')).toEqual([{ event: 'seen', data: ['fine'], dropped: 2, reconnects: 0 }]);
  });
});

describe('section 3.10: dropped notices', () => {
  it('reach on_dropped with source broker and add to counters.dropped_by_broker and bus.dropped', async () => {
    // In the same write as the welcome, so that the client reads both at once: it must not wait for more bytes to see the second.
    const broker = await FakeBroker.start({ withWelcome: [[11, 300]] });
    const script = pythonScript(
      `${REPORTING}
bus = connect()
until(lambda: bus.dropped, "the notice", seconds=2)
say(event="counters", by_broker=bus.counters.dropped_by_broker, dropped=bus.dropped)
bus.close()`,
      [broker.path],
    );
    await script.waitForExit();
    expect(script.stderr).toBe('');
    expect(jsonLines(script)).toEqual([
      { event: 'dropped', source: 'broker', count: 300, reason: "the broker's buffer for this client was full" },
      { event: 'counters', by_broker: 300, dropped: 300 },
    ]);
  });
});

describe('section 8: reconnecting', () => {
  it('a new socket file is dialled after the drawn [0, 100) ms, not at once, however long the backoff has grown', async () => {
    const broker = await FakeBroker.start();
    const script = pythonScript(
      `${REPORTING}
import time
bus = connect(reconnect_policy=lambda attempt: 30.0, rand=lambda: 0.99)
say(event="connected")
until(lambda: bus.state == "reconnecting", "the disconnect")
say(event="waiting")
until(lambda: bus.state == "connected", "the reconnect", seconds=20)
say(event="reconnected")
bus.close()`,
      [broker.path],
    );
    await waitFor(() => script.stdout.includes('connected'), 'the first connection');
    await broker.stop();
    await waitFor(() => script.stdout.includes('waiting'), 'the client to wait');
    const restartedAt = Date.now();
    await broker.listen();
    await waitFor(() => broker.connections === 2, 'the redial', 20_000);
    const redialledAfter = Date.now() - restartedAt;
    await script.waitForExit();
    expect(script.stderr).toBe('');
    // Not at once: the drawn jitter (here 99 ms of [0, 100)) after the file appeared; and not the backoff's 30 s
    // (25 + 100 ms at most, with room for a loaded machine).
    expect(redialledAfter).toBeGreaterThanOrEqual(90);
    expect(redialledAfter).toBeLessThan(1_000);
  });
});
