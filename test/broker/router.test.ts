import { describe, expect, it } from 'vitest';
import { AccessPolicy } from '../../broker/access-policy.js';
import { Connection, type ConnectionHost } from '../../broker/connection.js';
import { Logger } from '../../broker/log.js';
import { MemoryBudget } from '../../broker/memory-budget.js';
import { BrokerEventMessage, PublishedMessage, type OutgoingMessage } from '../../broker/delivery.js';
import { RetainedValues } from '../../broker/retained-values.js';
import { Router } from '../../broker/router.js';
import { BrokerCounters } from '../../broker/stats.js';
import { Subscriptions } from '../../broker/subscriptions.js';
import { decodeClientMessage, encodePublishBody, MessageKind, type Delivery, type PublishFrame } from '../../protocol/index.js';
import { brokerLimits } from '../helpers/limits.js';
import { socketPair, type Peer } from '../helpers/socket-pair.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Router with real Connections, each on the accepted end of a real socket
 * pair, and the real Subscriptions service as the broker wires them; the
 * test reads what each peer is sent. The host a Connection needs is the
 * narrow ConnectionHost: real limits, counters and logger, and no frames
 * come from the peers, so `handle` is never called.
 */

function brokerSide(args: string[] = []) {
  const limits = brokerLimits(args);
  const log = new Logger('warn', () => undefined);
  const host: ConnectionHost = {
    limits,
    counters: new BrokerCounters(),
    log,
    handle: () => {
      throw new Error('no frame was expected from a peer in these tests');
    },
    forget: () => undefined,
  };
  const budget = new MemoryBudget(limits, log);
  const access = AccessPolicy.openPolicy(process.getuid!()).accessFor(null);
  // Wired as the broker wires them: the router asks the subscriptions' owner where a request goes.
  const router: Router = new Router((connection, topic) => subscriptions.requestReceiver(connection, topic));
  const subscriptions = new Subscriptions(router, new RetainedValues(limits, undefined, budget, host.counters, log));
  let nextId = 1;
  /** An open connection named `name`, and the peer that reads what it is sent. */
  async function connection(name: string, options: { noEcho?: boolean } = {}): Promise<{ connection: Connection; peer: Peer }> {
    const { broker, peer } = await socketPair();
    const connection = new Connection(nextId++, broker, host, { credentials: null, access, stamp: null, account: budget.accountFor(null, 'a peer of unknown identity') });
    connection.open({ kind: MessageKind.Hello, version: 2, name, noEcho: options.noEcho ?? false });
    return { connection, peer };
  }
  /** One open connection per name, in order. */
  async function connections<const Names extends readonly string[]>(...names: Names) {
    const opened: Array<Awaited<ReturnType<typeof connection>>> = [];
    for (const name of names) opened.push(await connection(name));
    return opened as { [Index in keyof Names]: Awaited<ReturnType<typeof connection>> };
  }
  /** Subscribes as a subscribe frame would. */
  function subscribe(connection: Connection, subscriptionId: number, pattern: string, queue?: string): void {
    subscriptions.take(connection, queue === undefined ? { kind: MessageKind.Subscribe, subscriptionId, pattern } : { kind: MessageKind.Subscribe, subscriptionId, pattern, queue });
  }
  return { router, connection, connections, subscribe, host };
}

const event = (topic: string, data: unknown) => new BrokerEventMessage(topic, data, undefined);

/** A client's request on `topic` with the reply address the broker would give it. */
function request(topic: string, data: unknown, address: string): OutgoingMessage {
  const publish = decodeClientMessage(Buffer.from(encodePublishBody(topic, data, undefined, { request: 1 }))) as PublishFrame;
  return new PublishedMessage(publish, null, address);
}

const deliveries = (peer: Peer) => peer.received.filter((message): message is Delivery => message.kind === MessageKind.Message);

/** Waits until each peer has had at least its count of deliveries. */
async function settle(peers: Peer[], counts: number[]): Promise<void> {
  await waitFor(() => peers.every((peer, index) => deliveries(peer).length >= counts[index]!), `deliveries ${counts.join(', ')}`);
}

describe('Router', () => {
  it('delivers a message once per connection, however many of its subscriptions match, with no subscription id', async () => {
    const side = await brokerSide();
    const [a, b, c] = await side.connections('a', 'b', 'c');
    side.subscribe(a.connection, 1, 'app.>');
    side.subscribe(a.connection, 2, 'app.*');
    side.subscribe(a.connection, 3, 'app.saved');
    side.subscribe(b.connection, 1, 'app.saved');
    side.subscribe(c.connection, 1, 'other.>');
    const reached: Connection[] = [];
    expect(side.router.route(event('app.saved', 'one'), null, reached)).toBe(2);
    expect(reached.map((connection) => connection.name).sort()).toEqual(['a', 'b']);
    expect(side.router.size).toBe(5);
    await settle([a.peer, b.peer], [1, 1]);
    for (const peer of [a.peer, b.peer]) expect(deliveries(peer)).toEqual([{ kind: MessageKind.Message, topic: 'app.saved', data: 'one' }]);
    expect(deliveries(c.peer)).toEqual([]);
    expect([a.connection.counters.messagesOut, side.host.counters.messagesOut]).toEqual([1, 2]);
  });

  it('gives a queue group each message once, round robin over its members, beside every plain subscriber', async () => {
    const side = await brokerSide();
    const members = await side.connections('m1', 'm2', 'm3');
    const watcher = await side.connection('watcher');
    const other = await side.connection('other-group');
    members.forEach((member, index) => side.subscribe(member.connection, 10 + index, 'jobs.*', 'workers'));
    side.subscribe(watcher.connection, 1, 'jobs.>');
    side.subscribe(other.connection, 4, 'jobs.resize', 'auditors');
    for (let index = 0; index < 6; index++) expect(side.router.route(event('jobs.resize', index), null)).toBe(3);
    await settle([...members.map((member) => member.peer), watcher.peer, other.peer], [2, 2, 2, 6, 6]);
    const seen = members.map((member) => deliveries(member.peer).map((delivery) => delivery.data));
    // Each exactly once, in turn: no member twice before the others had theirs.
    expect(seen).toEqual([
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    expect(members.map((member, index) => deliveries(member.peer).every((delivery) => delivery.info?.sub === 10 + index))).toEqual([true, true, true]);
    expect(deliveries(watcher.peer).map((delivery) => [delivery.data, delivery.info])).toEqual([0, 1, 2, 3, 4, 5].map((data) => [data, undefined]));
    expect(deliveries(other.peer).map((delivery) => delivery.info?.sub)).toEqual(Array(6).fill(4));
  });

  it('passes over members without room; when none has room, the one whose turn it was gets it and its policy drops it', async () => {
    const side = await brokerSide(['--max-pending', '4096']);
    const members = await side.connections('m1', 'm2', 'm3');
    members.forEach((member, index) => side.subscribe(member.connection, index + 1, 'work', 'g'));
    const big = 'x'.repeat(3000);
    // Fill m1 and m2 within this tick: their batches hold a frame each that leaves no room for another.
    side.router.route(event('work', big), null); // m1's turn
    side.router.route(event('work', big), null); // m2's turn
    expect(members.map((member) => member.connection.hasRoomFor(3100))).toEqual([false, false, true]);
    // m3's turn, then m1's: neither m1 nor m2 has room for these, so m3 takes both.
    const medium = (name: string) => `${name}:`.padEnd(1500, 'y');
    side.router.route(event('work', medium('third')), null);
    side.router.route(event('work', medium('fourth')), null);
    expect(members.map((member) => member.connection.counters.messagesOut)).toEqual([1, 1, 2]);
    // Now nobody has room for a big one: it goes to the member whose turn it was (m2), which drops it.
    const dropped = () => members.map((member) => member.connection.counters.dropped);
    expect(side.router.route(event('work', big), null)).toBe(1); // turn 4: m2
    expect(dropped()).toEqual([0, 1, 0]);
    side.router.route(event('work', big), null); // turn 5: m3
    expect(dropped()).toEqual([0, 1, 1]);
    side.router.route(event('work', big), null); // turn 6: m1
    expect(dropped()).toEqual([1, 1, 1]);
    expect(side.host.counters.dropped).toBe(3);
    await settle(
      members.map((member) => member.peer),
      [1, 1, 2],
    );
    expect(deliveries(members[2]!.peer).map((delivery) => String(delivery.data).split(':')[0])).toEqual(['third', 'fourth']);
  });

  it('skips a noEcho connection for its own messages, plain and in a queue group, and only for its own', async () => {
    const side = await brokerSide();
    const quiet = await side.connection('quiet', { noEcho: true });
    const echoing = await side.connection('echoing');
    side.subscribe(quiet.connection, 1, 'chat');
    side.subscribe(echoing.connection, 1, 'chat');
    side.subscribe(quiet.connection, 2, 'tasks', 'g');
    side.subscribe(echoing.connection, 2, 'tasks', 'g');
    expect(side.router.route(event('chat', 'from quiet'), quiet.connection)).toBe(1);
    expect(side.router.route(event('chat', 'from echoing'), echoing.connection)).toBe(2);
    // quiet's own tasks always go to the other member, whatever the turn.
    for (let index = 0; index < 4; index++) side.router.route(event('tasks', `quiet ${index}`), quiet.connection);
    await settle([quiet.peer, echoing.peer], [1, 6]);
    expect(deliveries(quiet.peer).map((delivery) => delivery.data)).toEqual(['from echoing']);
    expect(deliveries(echoing.peer).map((delivery) => delivery.data)).toEqual(['from quiet', 'from echoing', 'quiet 0', 'quiet 1', 'quiet 2', 'quiet 3']);
  });

  it('sends a request to one subscription per connection, the lowest matching id, with its reply address', async () => {
    const side = await brokerSide();
    const [a, b, c] = await side.connections('a', 'b', 'c');
    side.subscribe(a.connection, 1, 'other.>'); // lower, but does not match
    side.subscribe(a.connection, 9, 'svc.echo');
    side.subscribe(a.connection, 3, 'svc.>');
    side.subscribe(a.connection, 5, 'svc.*');
    side.subscribe(b.connection, 7, 'svc.echo');
    side.subscribe(c.connection, 2, 'svc.echo', 'responders');
    const reached: Connection[] = [];
    const address = 'AAAAAAAAAAAAAAAA';
    expect(side.router.route(request('svc.echo', 'ping?', address), null, reached)).toBe(3);
    expect(reached.map((connection) => connection.name).sort()).toEqual(['a', 'b', 'c']);
    await settle([a.peer, b.peer, c.peer], [1, 1, 1]);
    const infos = [a.peer, b.peer, c.peer].map((peer) => deliveries(peer).map((delivery) => [delivery.data, delivery.info]));
    expect(infos).toEqual([[['ping?', { reply: address, sub: 3 }]], [['ping?', { reply: address, sub: 7 }]], [['ping?', { reply: address, sub: 2 }]]]);
  });
});
