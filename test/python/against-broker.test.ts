import { describe, expect, it } from 'vitest';
import { restartBroker, startBroker } from '../helpers/broker.js';
import { collect, connectClient, waitForCount } from '../helpers/clients.js';
import { waitFor } from '../helpers/wait.js';
import { events, jsonLines, pythonScript, REPORTING } from './python.js';

/** The Python client against a real sockbusd (protocol 2) on a temp socket. */


describe('the offline queue across a broker restart (issue 13: publishes made while disconnected were lost without a word)', () => {
  it('publishes made while the broker is down arrive after it returns, after the subscriptions; what overflows the queue is counted and reported', async () => {
    const broker = await startBroker();
    const script = pythonScript(
      `${REPORTING}
bus = connect(offline_queue_messages=4)
seen = []
bus.subscribe("off.>", lambda message: seen.append(message.data))
bus.publish("off.before", "before")
bus.flush()
until(lambda: seen == ["before"], "the first echo")
say(event="ready")
until(lambda: bus.state == "reconnecting", "the broker to go")
for n in range(10):
    bus.publish("off.down", n)
say(event="queued", counters=bus.counters.as_dict(), dropped=bus.dropped)
until(lambda: bus.state == "connected", "the broker to return", seconds=20)
bus.flush()
until(lambda: len(seen) == 5, "the queued publishes")
say(event="seen", data=seen, counters=bus.counters.as_dict())
bus.close()`,
      [broker.socketPath],
    );
    await waitFor(() => script.stdout.includes('"ready"'), 'the Python client to be ready');
    await broker.child.kill('SIGKILL');
    await waitFor(() => script.stdout.includes('"queued"'), 'the publishes while down');
    await restartBroker(broker);
    await script.waitForExit();
    expect(script.stderr).toBe('');
    const lines = jsonLines(script);
    const dropped = events(lines, 'dropped');
    expect(dropped.every((notice) => notice.source === 'client' && /^the offline queue was full while disconnected/.test(notice.reason))).toBe(true);
    expect(dropped.reduce((sum, notice) => sum + notice.count, 0)).toBe(6);
    expect(events(lines, 'queued')[0]).toMatchObject({ counters: { published: 11, dropped_by_client: 6, unconfirmed: 0 }, dropped: 6 });
    // The oldest gave way to the newest.
    expect(events(lines, 'seen')).toEqual([
      { event: 'seen', data: ['before', 6, 7, 8, 9], counters: expect.objectContaining({ published: 11, dropped_by_client: 6, unconfirmed: 0, reconnects: 1 }) },
    ]);
  });

  it('publish x 10 then close(): everything arrives and nothing is reported lost (issue 13\'s case, for Python)', async () => {
    const { socketPath } = await startBroker();
    const inbox = await collect(await connectClient(socketPath), 'ten.>');
    const script = pythonScript(
      `${REPORTING}
bus = connect()
for n in range(10):
    bus.publish("ten.n", n)
bus.close()
say(event="closed", counters=bus.counters.as_dict())`,
      [socketPath],
    );
    await script.waitForExit();
    expect(script.stderr).toBe('');
    const lines = jsonLines(script);
    expect(events(lines, 'dropped')).toEqual([]);
    expect(events(lines, 'closed')[0].counters).toMatchObject({ published: 10, unconfirmed: 0, dropped_by_client: 0, dropped_by_broker: 0 });
    await waitForCount(inbox, 10);
    expect(inbox.map((message) => message.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a client stopped from reconnecting says how many of its queued publishes it never sent', async () => {
    const broker = await startBroker();
    const script = pythonScript(
      `${REPORTING}
bus = connect(reconnect=False)
bus.flush()
say(event="ready")
until(lambda: bus.state == "closed", "the connection to end")
try:
    bus.publish("late", 1)
except sockbus.SockbusError as error:
    say(event="publish", code=error.code)`,
      [broker.socketPath],
    );
    await waitFor(() => script.stdout.includes('"ready"'), 'the Python client');
    await broker.child.kill('SIGKILL');
    await script.waitForExit();
    expect(script.stderr).toBe('');
    expect(events(jsonLines(script), 'publish')).toEqual([{ event: 'publish', code: 'CONNECTION_CLOSED' }]);
  });
});

describe('protocol 2 against sockbusd', () => {
  it('a request the broker refuses comes back as a reply with the code: TOO_MANY_REQUESTS at once, not a timeout', async () => {
    const { socketPath } = await startBroker({ args: ['--max-requests', '1'] });
    const script = pythonScript(
      `${REPORTING}
bus = connect()
bus.subscribe("slow", lambda message: None)  # never answers
bus.flush()
waiting = []
def ask():
    try:
        bus.request("slow", 1, timeout=3)
    except sockbus.SockbusError as error:
        waiting.append(error.code)
thread = threading.Thread(target=ask)
thread.start()
until(lambda: bus._state.requests, "the first request")
bus.flush()
started = time.monotonic()
try:
    bus.request("slow", 2, timeout=20)
except sockbus.SockbusError as error:
    say(event="refused", code=error.code, fast=time.monotonic() - started < 5)
thread.join()
say(event="first", codes=waiting)
bus.close()`,
      [socketPath],
    );
    await script.waitForExit(30_000);
    expect(script.stderr).toBe('');
    expect(jsonLines(script)).toEqual([
      { event: 'refused', code: 'TOO_MANY_REQUESTS', fast: true },
      { event: 'first', codes: ['REQUEST_TIMEOUT'] },
    ]);
  });

  it('a responder\'s error with no code reaches the requester as REQUEST_FAILED, with the responder as sender', async () => {
    const { socketPath } = await startBroker();
    const script = pythonScript(
      `${REPORTING}
import os
bus = connect()
bus.subscribe("disk.write", lambda request: request.respond_error("disk full"))
bus.flush()
try:
    bus.request("disk.write", b"block", timeout=5)
except sockbus.SockbusError as error:
    say(event="failed", code=error.code, message=error.message, sender=error.sender == {"uid": os.getuid(), "pid": os.getpid()})
bus.close()`,
      [socketPath],
    );
    await script.waitForExit();
    expect([script.stdout, script.stderr]).toEqual(['{"event": "failed", "code": "REQUEST_FAILED", "message": "disk full", "sender": true}\n', '']);
  });

  it('about.sub: a subscription the broker refused is forgotten, and not subscribed again after the broker restarts', async () => {
    const broker = await startBroker({ args: ['--max-subscriptions', '1'] });
    const script = pythonScript(
      `${REPORTING}
bus = connect()
held = bus.subscribe("held.>", lambda message: None)
refused = bus.subscribe("refused.>", lambda message: None)
bus.flush()
say(event="states", held=held.state, refused=refused.state)
say(event="ready")
until(lambda: bus.counters.reconnects == 1, "the reconnect", seconds=20)
bus.flush()
say(event="resubscribed", subscriptions=bus.stats()["subscriptions"])
bus.close()`,
      [broker.socketPath],
    );
    await waitFor(() => script.stdout.includes('"ready"'), 'the Python client');
    await broker.child.kill('SIGKILL');
    await restartBroker(broker); // no limit now: a client that resubscribed both would hold two
    await script.waitForExit(30_000);
    expect(script.stderr).toBe('');
    const lines = jsonLines(script);
    expect(events(lines, 'error')).toHaveLength(1);
    expect(events(lines, 'error')[0]).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', about: { kind: 4, sub: 2 } });
    expect(events(lines, 'states')).toEqual([{ event: 'states', held: 'active', refused: 'ended' }]);
    expect(events(lines, 'resubscribed')).toEqual([{ event: 'resubscribed', subscriptions: 1 }]);
  });

  it('the welcome\'s limits are checked before sending: a message past --max-payload is refused locally with FRAME_TOO_LARGE', async () => {
    const { socketPath } = await startBroker({ args: ['--max-payload', '1000'] });
    const script = pythonScript(
      `bus = sockbus.connect(sys.argv[1])
print(bus.limits["maxFrameBytes"], bus.limits["maxBrokerFrameBytes"], bus.welcome["version"], bus.welcome["senders"])
try:
    bus.publish("big", b"x" * 1000)
except sockbus.SockbusError as error:
    print(error.code, error.message)
bus.publish("small", b"x" * 900)
bus.flush()
bus.close()`,
      [socketPath],
    );
    await script.waitForExit();
    expect([script.stdout, script.stderr]).toEqual([
      "1000 2024 2 True\nFRAME_TOO_LARGE message of 1009 bytes exceeds the broker's limit of 1000 bytes\n",
      '',
    ]);
  });

  it('an unknown extension type crosses the broker and comes back to Python as the same ExtType; letters of every script in topics', async () => {
    const { socketPath } = await startBroker();
    const ts = await connectClient(socketPath);
    const inbox = await collect(ts, 'città.>');
    const script = pythonScript(
      `${REPORTING}
import msgpack
bus = connect()
seen = []
bus.subscribe("città.>", lambda message: seen.append(message))
bus.flush()
bus.publish("città.évènement", {"ext": msgpack.ExtType(42, b"\\x01\\x02")}, headers={"温度": "读数"})
until(lambda: seen, "the echo")
message = seen[0]
say(event="echo", topic=message.topic, ext=[message.data["ext"].code, message.data["ext"].data.hex()], headers=message.headers, same=message.data["ext"] == msgpack.ExtType(42, b"\\x01\\x02"))
bus.close()`,
      [socketPath],
    );
    await script.waitForExit();
    expect(script.stderr).toBe('');
    expect(jsonLines(script)).toEqual([{ event: 'echo', topic: 'città.évènement', ext: [42, '0102'], headers: { 温度: '读数' }, same: true }]);
    await waitForCount(inbox, 1);
    expect(inbox[0]!.topic).toBe('città.évènement');
  });
});
