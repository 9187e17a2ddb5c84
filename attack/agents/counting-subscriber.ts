import { connect, type SockbusError } from '../../client/index.js';
import { emit, nextCommand, runAgent, task } from './agent-io.js';

/** Subscribes (optionally in a queue group) and counts what arrives and from whom, until told to report. */
interface CountingTask {
  path: string;
  pattern: string;
  queue?: string;
  name?: string;
}

runAgent(async () => {
  const { path, pattern, queue, name } = task<CountingTask>();
  const client = await connect({ path, name: name ?? 'counting-subscriber' });
  const errors: string[] = [];
  client.on('error', (error: SockbusError) => errors.length < 5 && errors.push(`${error.code}: ${error.message}`));
  let received = 0;
  const senders = new Set<string>();
  const topics = new Set<string>();
  const options = queue === undefined ? {} : { queue };
  client.subscribe(pattern, options, (message) => {
    received++;
    topics.add(message.topic);
    if (message.sender) senders.add(`${message.sender.uid}:${message.sender.pid}`);
  });
  await client.flush();
  emit('ready');
  await nextCommand('report');
  await client.flush().catch(() => undefined);
  emit('result', { received, senders: [...senders], topics: [...topics].slice(0, 20), errors });
  await client.close();
});
