import { connectBenchClient, type BenchClient, type NodeSystemName } from './adapters.js';
import { now } from './cpu.js';

/**
 * One benchmark process: publishes, subscribes, or holds connections and
 * subscriptions, then prints one JSON line with what it saw. The
 * orchestrator runs several at once, apart from the server they measure.
 * Publishers and subscribers wait for "go" on standard input after saying
 * ready; every peer stays after its result until standard input ends, so
 * that the orchestrator can read its CPU time (bench/peers.ts).
 * Usage: node dist-tools/bench/peer.js '{"system":...,"role":...}'
 * (the C clients' peer is clients/c/bench/sockbus-bench.c).
 */
export type PeerTask =
  | {
      role: 'publish';
      system: NodeSystemName | 'sockbus-c';
      address: string;
      topic: string;
      count: number;
      size: number;
      ratePerSecond?: number;
      /** Every this many payload bytes, start a flush and wait for the one before it; 0: unbounded. */
      flowBytes: number;
    }
  | { role: 'subscribe'; system: NodeSystemName | 'sockbus-c'; address: string; topic: string; expect: number; idleTimeoutMs: number; measureLatency: boolean }
  | { role: 'hold'; system: NodeSystemName; address: string; connections: number; subscriptionsEach: number };

export interface SubscribeResult {
  received: number;
  firstAt: number;
  lastAt: number;
  latencyMicros: { p50: number; p99: number; max: number } | null;
}

const task = JSON.parse(process.argv[2]!) as PeerTask;
const say = (line: unknown) => process.stdout.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`);

let input = '';
let markGo!: () => void;
const go = new Promise<void>((resolve) => (markGo = resolve));
const released = new Promise<void>((resolve) => process.stdin.once('end', resolve));
process.stdin.setEncoding('utf8').on('data', (text: string) => {
  input += text;
  if (input.includes('go\n')) markGo();
});

/**
 * Flow control as applications do it: every flowBytes of payload, start a
 * flush and wait for the previous one, so at most about 2 × flowBytes are
 * unconfirmed. With flowBytes 0 (--unbounded) it never waits.
 */
class FlowControl {
  private unflushed = 0;
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly client: BenchClient,
    private readonly flowBytes: number,
  ) {}

  /** Counts a publish; returns a promise to wait for when a window is full, else null (no await on the hot path). */
  account(bytes: number): Promise<void> | null {
    if (this.flowBytes <= 0) return null;
    this.unflushed += bytes;
    if (this.unflushed < this.flowBytes) return null;
    this.unflushed = 0;
    const previous = this.inFlight;
    this.inFlight = this.client.flush();
    return previous;
  }
}

async function publish(client: BenchClient, task: Extract<PeerTask, { role: 'publish' }>): Promise<void> {
  const payload = Buffer.alloc(task.size, 0x61);
  const flow = new FlowControl(client, task.flowBytes);
  if (task.ratePerSecond) {
    // Paced: each message carries its send time, so the subscriber can measure latency.
    const started = now();
    let sent = 0;
    while (sent < task.count) {
      const due = Math.min(task.count, Math.floor(((now() - started) / 1000) * task.ratePerSecond));
      for (; sent < due; sent++) {
        // A fresh buffer each time: some clients keep a reference until they write.
        const stamped = Buffer.from(payload);
        stamped.writeDoubleLE(now(), 0);
        client.publish(task.topic, stamped);
        const wait = flow.account(task.size);
        if (wait) await wait;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } else {
    // As fast as the client takes them, yielding now and then so its writes go out.
    for (let sent = 0; sent < task.count; ) {
      const end = Math.min(task.count, sent + 1000);
      for (; sent < end; sent++) {
        client.publish(task.topic, payload);
        const wait = flow.account(task.size);
        if (wait) await wait;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  await client.flush();
}

async function subscribe(client: BenchClient, task: Extract<PeerTask, { role: 'subscribe' }>): Promise<SubscribeResult> {
  const latencies: number[] = [];
  const result: SubscribeResult = { received: 0, firstAt: 0, lastAt: 0, latencyMicros: null };
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let idleTimer: NodeJS.Timeout | null = null;
  const armIdle = () => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(finish, task.idleTimeoutMs);
  };
  await client.subscribe(task.topic, (payload) => {
    const at = now();
    if (result.received === 0) result.firstAt = at;
    result.lastAt = at;
    result.received++;
    if (task.measureLatency) {
      const sentAt = Buffer.from(payload.buffer, payload.byteOffset, 8).readDoubleLE(0);
      if (sentAt > 1e12) latencies.push((at - sentAt) * 1000);
    }
    if (result.received >= task.expect) finish();
    else if (result.received % 1000 === 1) armIdle();
  });
  say('ready');
  // From the go on (publishers may take seconds to start on a busy machine), a run that never starts still ends.
  void go.then(armIdle);
  await finished;
  if (idleTimer) clearTimeout(idleTimer);
  if (latencies.length > 0) {
    latencies.sort((a, b) => a - b);
    const at = (fraction: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * fraction))]!);
    result.latencyMicros = { p50: at(0.5), p99: at(0.99), max: Math.round(latencies[latencies.length - 1]!) };
  }
  return result;
}

async function hold(task: Extract<PeerTask, { role: 'hold' }>): Promise<void> {
  const clients: BenchClient[] = [];
  for (let index = 0; index < task.connections; index++) {
    const client = await connectBenchClient(task.system, task.address);
    for (let subscription = 0; subscription < task.subscriptionsEach; subscription++) {
      await client.subscribe(`unrelated.${index}.${subscription}`, () => undefined);
    }
    clients.push(client);
  }
  say('ready');
  // Held until the orchestrator ends this process.
  await new Promise(() => undefined);
}

async function main(): Promise<void> {
  if (task.role === 'hold') return hold(task);
  if (task.system === 'sockbus-c') throw new Error('the C clients run as clients/c/build/sockbus-bench, not in Node');
  const client = await connectBenchClient(task.system, task.address);
  if (task.role === 'publish') {
    say('ready');
    await go;
    await publish(client, task);
    say({ published: task.count });
  } else {
    say(await subscribe(client, task));
  }
  await released;
  await client.close();
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench peer (${task.system} ${task.role}): ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
