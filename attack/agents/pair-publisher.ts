import { connect } from '../../client/index.js';
import { emit, onCommand, runAgent, sleep, task } from './agent-io.js';

/**
 * The well-behaved pair's publisher (run as carol): publishes 0, 1, 2, ...
 * on its topic at a modest rate and pings the broker to measure round
 * trips, until told to stop; then reports what it sent.
 */
interface PublisherTask {
  path: string;
  topic: string;
  ratePerSecond: number;
}

const PING_EVERY_MS = 100;
/** A ping unanswered this long counts as unanswered (the broker is stalled or gone). */
const PING_TIMEOUT_MS = 2000;

runAgent(async () => {
  const { path, topic, ratePerSecond } = task<PublisherTask>();
  const client = await connect({ path, name: 'pair-publisher' });
  let disconnects = 0;
  const errors: string[] = [];
  client.on('disconnect', () => disconnects++);
  client.on('error', (error) => errors.length < 5 && errors.push(`${error.code}: ${error.message}`));
  let sent = 0;
  let stopping = false;
  const stopped = new Promise<void>((resolve) => onCommand((command) => command === 'stop' && resolve()));
  void stopped.then(() => (stopping = true));

  const roundTrips: number[] = [];
  let pingsUnanswered = 0;
  const pinging = (async () => {
    while (!stopping) {
      const began = performance.now();
      const answered = await Promise.race([client.flush().then(() => true, () => false), sleep(PING_TIMEOUT_MS).then(() => false)]);
      if (answered) roundTrips.push(performance.now() - began);
      else pingsUnanswered++;
      await sleep(PING_EVERY_MS);
    }
  })();

  emit('ready');
  const began = Date.now();
  while (!stopping) {
    // Catch up to the schedule, so a stalled event loop does not lower the rate.
    const due = Math.floor(((Date.now() - began) / 1000) * ratePerSecond);
    while (sent < due) client.publish(topic, sent++);
    await sleep(10);
  }
  await pinging;
  const flushed = await Promise.race([client.flush().then(() => true, () => false), sleep(3000).then(() => false)]);
  roundTrips.sort((a, b) => a - b);
  const percentile = (p: number) => (roundTrips.length ? round(roundTrips[Math.min(roundTrips.length - 1, Math.floor((p / 100) * roundTrips.length))]!) : null);
  emit('result', { sent, flushed, pings: roundTrips.length, pingsUnanswered, p50: percentile(50), p99: percentile(99), disconnects, errors, counters: client.counters });
  await Promise.race([client.close(), sleep(1000)]);
});

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
