import { connect } from '../../client/index.js';
import { emit, onCommand, runAgent, sleep, task } from './agent-io.js';

/**
 * Carol's library client against a path that may not hold her broker.
 * `once`: connect, report, close. `stay`: connect, then publish a tick
 * every 100 ms and report every disconnect and reconnect until told to stop.
 */
interface ProbeTask {
  path: string;
  mode: 'once' | 'stay';
}

runAgent(async () => {
  const { path, mode } = task<ProbeTask>();
  let client;
  try {
    client = await connect({ path, name: 'carol-probe' });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    emit('result', { connected: false, code: code ?? null, message });
    return;
  }
  emit('connected');
  if (mode === 'once') {
    await Promise.race([client.flush().catch(() => undefined), sleep(2000)]);
    emit('result', { connected: true });
    await Promise.race([client.close(), sleep(1000)]);
    return;
  }
  let disconnects = 0;
  let reconnects = 0;
  const errors: string[] = [];
  client.on('disconnect', () => emit('disconnect', { total: ++disconnects }));
  client.on('reconnect', () => emit('reconnect', { total: ++reconnects }));
  client.on('error', (error) => errors.length < 5 && errors.push(`${error.code}: ${error.message}`));
  let stopping = false;
  onCommand((command) => command === 'stop' && (stopping = true));
  while (!stopping) {
    client.publish('probe.tick', Date.now());
    await sleep(100);
  }
  emit('result', { connected: true, disconnects, reconnects, errors, state: client.state });
  await Promise.race([client.close(), sleep(1000)]);
});
