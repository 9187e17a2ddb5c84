import { connect, type Reply, type SockbusError } from '../../client/index.js';
import { emit, nextCommand, runAgent, sleep, task } from './agent-io.js';

/** Carol's client of the service: sends numbered requests once told to go, and sorts the answers. */
interface RequesterTask {
  path: string;
  topic: string;
  count: number;
  spacingMs: number;
  timeoutMs: number;
}

runAgent(async () => {
  const { path, topic, count, spacingMs, timeoutMs } = task<RequesterTask>();
  const client = await connect({ path, name: 'svc-requester' });
  emit('ready');
  await nextCommand('go');
  const outcomes = { genuine: 0, forgedData: 0, forgedErrors: 0, timeouts: 0, otherErrors: [] as string[], senderUids: [] as number[], withoutSender: 0 };
  const requests: Array<Promise<void>> = [];
  for (let n = 0; n < count; n++) {
    requests.push(
      client.request<{ genuine?: boolean }>(topic, n, { timeout: timeoutMs }).then(
        (reply: Reply<{ genuine?: boolean }>) => {
          if (reply.data?.genuine === true) outcomes.genuine++;
          else outcomes.forgedData++;
          // Replies carry a sender once the broker stamps them; until then there is nothing to check.
          const sender = (reply as { sender?: { uid: number } }).sender;
          if (sender) outcomes.senderUids.push(sender.uid);
          else outcomes.withoutSender++;
        },
        (error: SockbusError) => {
          if (error.code === 'TIMEOUT') outcomes.timeouts++;
          else if (error.code === 'FORGED') outcomes.forgedErrors++;
          else if (outcomes.otherErrors.length < 5) outcomes.otherErrors.push(`${error.code}: ${error.message}`);
        },
      ),
    );
    await sleep(spacingMs);
  }
  await Promise.all(requests);
  emit('result', { ...outcomes, senderUids: [...new Set(outcomes.senderUids)] });
  await client.close();
});
