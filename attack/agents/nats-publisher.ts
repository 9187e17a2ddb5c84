import net from 'node:net';
import { emit, runAgent, task } from './agent-io.js';

/** Alice speaks the NATS text protocol to an unauthenticated server: anyone on the machine can. */
runAgent(async () => {
  const { port, subjects } = task<{ port: number; subjects: string[] }>();
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let answer = '';
  socket.setEncoding('utf8').on('data', (text: string) => (answer += text));
  socket.write('CONNECT {"verbose":false,"name":"alice"}\r\n');
  for (const subject of subjects) socket.write(`PUB ${subject} 5\r\nhello\r\n`);
  socket.write('PING\r\n');
  const deadline = Date.now() + 5000;
  while (!answer.includes('PONG') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  emit('result', { ponged: answer.includes('PONG'), said: answer.slice(0, 300) });
  socket.destroy();
});
