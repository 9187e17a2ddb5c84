import net from 'node:net';
import { emit, runAgent, task } from './agent-io.js';

/** Bob binds names in Linux's abstract socket namespace, which no file permission guards. */
runAgent(async () => {
  const { names } = task<{ names: string[] }>();
  const bound: string[] = [];
  const failed: Record<string, string> = {};
  for (const name of names) {
    const server = net.createServer();
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      server.once('error', resolve);
      server.listen(`\0${name}`, () => resolve(null));
    });
    if (error) failed[name] = error.code ?? error.message;
    else bound.push(name);
  }
  emit('listening', { bound, failed });
  await new Promise(() => undefined);
});
