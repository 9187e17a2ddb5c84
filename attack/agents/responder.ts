import { connect } from '../../client/index.js';
import { emit, runAgent, task } from './agent-io.js';

/** Carol's service: answers every request on its topic after a delay, with data that says it is genuine. */
interface ResponderTask {
  path: string;
  topic: string;
  delayMs: number;
}

runAgent(async () => {
  const { path, topic, delayMs } = task<ResponderTask>();
  const client = await connect({ path, name: 'svc-responder' });
  client.subscribe(topic, (message) => {
    if (!message.isRequest) return;
    setTimeout(() => {
      message.respond({ genuine: true, request: message.data });
    }, delayMs);
  });
  await client.flush();
  emit('ready');
  // Runs until the runner ends it.
  await new Promise(() => undefined);
});
