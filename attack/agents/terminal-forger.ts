import { connect } from '../../client/index.js';
import { emit, nextCommand, runAgent, task } from './agent-io.js';

/** Alice's name, headers and data carry terminal controls and a line that looks like a root message. */
interface ForgerTask {
  path: string;
  topic: string;
  forgedLine: string;
}

runAgent(async () => {
  const { path, topic, forgedLine } = task<ForgerTask>();
  const client = await connect({ path, name: `alice\x1b[2K\r\n${forgedLine}` });
  emit('ready');
  await nextCommand('go');
  // Header names cannot hold controls at all (PROTOCOL.md §4.4: the client and the broker refuse them); values can.
  const headers = { k: `v\r\n${forgedLine}\x1b[0m`, origin: `\x1b]0;owned\x07\r${forgedLine}` };
  client.publish(topic, `ok\r\n${forgedLine}`, { headers });
  client.publish(topic, 'second', { headers });
  await client.flush();
  emit('sent');
  await new Promise(() => undefined);
});
