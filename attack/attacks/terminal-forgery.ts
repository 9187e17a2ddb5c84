import { verdictOf, type Attack, type AttackContext } from '../attack.js';
import { failureOf, pollUntil } from '../processes.js';
import { ALICE, builtScript, CAROL, spawnAs } from '../users.js';

const FORGED_LINE = '12:00:00.000 system.notice "all clear" (uid 0, pid 1)';
/** Control characters a terminal acts on; after the tty's own CRLF is undone, none may remain. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f\x9b]/;

/** Runs the sockbus CLI as carol on a pseudo-terminal (script), as a person would see it, without colour. */
async function onTerminal(context: AttackContext, args: string[], waitMs: number): Promise<string> {
  // One shell word each: a pattern such as news.> must not become a redirect.
  const command = [process.execPath, builtScript(context.copy, 'cli/main.js'), ...args].map((word) => `'${word.replace(/'/g, "'\\''")}'`).join(' ');
  const child = spawnAs(CAROL, context.copy, 'script', ['-qec', command, '/dev/null'], { env: { PATH: process.env['PATH'], NO_COLOR: '1', TERM: 'dumb' } });
  child.process.stdin?.end();
  if (!(await child.waitForExit(waitMs))) await child.kill();
  return child.stdout;
}

function problems(what: string, output: string): string[] {
  const text = output.replace(/\r\n/g, '\n');
  const found: string[] = [];
  const control = CONTROL.exec(text);
  if (control) found.push(`${what} printed a raw control character (0x${control[0].charCodeAt(0).toString(16).padStart(2, '0')})`);
  const lines = text.split(/[\n\r]/).map((line) => line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').trimStart());
  if (lines.some((line) => line.startsWith(FORGED_LINE.slice(0, 12)))) found.push(`${what} showed alice's forged line as a line of its own`);
  return found;
}

/** Issue 11, 12: what alice puts in names, headers and data must not write to carol's terminal. */
export const terminalForgery: Attack = {
  name: 'terminal-forgery',
  title: 'alice\'s hello name, header keys and values and data carry ESC, CR, LF and a fake line "… (uid 0, pid 1)"; carol runs sockbus sub and sockbus clients on a terminal',
  broker: () => [],
  async run(context) {
    const broker = context.broker!;
    const topic = 'news.flash';
    const forger = context.agent(ALICE, 'terminal-forger', { path: broker.socketPath, topic, forgedLine: FORGED_LINE });
    if (!(await forger.nextEvent('ready', 10_000))) return verdictOf([`alice's agent did not start: ${failureOf(forger)}`], {});
    const subscribing = onTerminal(context, ['sub', 'news.>', '--count', '2', '--socket', broker.socketPath], 15_000);
    const subscribed = await pollUntil(async () => {
      const clients = (await broker.stats())?.clients ?? [];
      return clients.some((client) => client.name === 'sockbus sub' && client.subscriptions > 0);
    }, 10_000);
    forger.command('go');
    const subOutput = await subscribing;
    const clientsOutput = await onTerminal(context, ['clients', '--socket', broker.socketPath], 10_000);
    const failures = [...problems('sockbus sub', subOutput), ...problems('sockbus clients', clientsOutput)];
    if (!subscribed) failures.push('carol\'s sockbus sub never subscribed');
    if (!subOutput.includes(topic)) failures.push('carol\'s sockbus sub printed no message');
    return verdictOf(failures, { sub: subOutput.slice(0, 800), clients: clientsOutput.slice(0, 800) });
  },
};
