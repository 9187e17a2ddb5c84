import { connect } from '../../client/index.js';
import { emit, onCommand, runAgent, sleep, task } from './agent-io.js';

/**
 * The well-behaved pair's subscriber (run as carol): checks that every
 * number of the publisher's sequence arrives once and in order.
 */
interface SubscriberTask {
  path: string;
  topic: string;
}

runAgent(async () => {
  const { path, topic } = task<SubscriberTask>();
  const client = await connect({ path, name: 'pair-subscriber' });
  let disconnects = 0;
  client.on('disconnect', () => disconnects++);
  const seen = new Set<number>();
  let duplicates = 0;
  let reordered = 0;
  let highest = -1;
  client.subscribe<number>(topic, (message) => {
    const n = message.data;
    if (seen.has(n)) duplicates++;
    else if (n < highest) reordered++;
    seen.add(n);
    highest = Math.max(highest, n);
  });
  await client.flush();
  emit('ready');
  const { sent } = await new Promise<{ sent: number }>((resolve) =>
    onCommand((command, fields) => command === 'finish' && resolve(fields as { sent: number })),
  );
  // The last publishes may still be on their way.
  const deadline = Date.now() + 3000;
  while (seen.size < sent && Date.now() < deadline) await sleep(20);
  let lost = 0;
  for (let n = 0; n < sent; n++) if (!seen.has(n)) lost++;
  emit('result', { received: seen.size, lost, duplicates, reordered, disconnects });
  await Promise.race([client.close(), sleep(1000)]);
});
