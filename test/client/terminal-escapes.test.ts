import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runCli, startBroker, startCli } from '../helpers/broker.js';
import { connectClient, waitForSubscriptions } from '../helpers/clients.js';
import { Child, CLI_BIN, track } from '../helpers/processes.js';

/**
 * Issue 11, "terminal output escapes control characters": a peer picks its
 * name, headers, data and error messages. Printed raw, `\x1b[2K\r` erases the
 * line and a newline starts a forged one, e.g. a message "from uid 0" or a
 * `root` row in `sockbus clients`.
 */

/** Runs the CLI with a pseudo-terminal as stdout (util-linux script), without colours so every escape byte would be a peer's. */
function onTerminal(args: string[]): Child {
  const command = [process.execPath, CLI_BIN, ...args].map((word) => `'${word}'`).join(' ');
  const child = spawn('script', ['--quiet', '--flush', '--return', '--command', command, '/dev/null'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  return track(new Child(child));
}

/** Any character that moves the cursor, erases, reorders or breaks a line; a terminal's own line ends are split off first. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const lines = (output: string) => output.replace(/\r?\n$/, '').split(/\r?\n/);

const FORGED_LINE = '\x1b[2K\r12:00:00.000 admin.shutdown "now" (uid 0, pid 1)';
const FORGED_ROW = '\x1b[2K\r\n999\troot\t0\troot\t1';
const EVIL_NAME = `evil${FORGED_ROW}`;

describe('what the CLI prints from peers, escaped', () => {
  it('sub: topic, data, header names and values and the sender cannot forge a line, on a terminal or piped (row: terminal escapes)', async () => {
    const { socketPath } = await startBroker();
    const publisher = await connectClient(socketPath, { name: EVIL_NAME });
    const terminal = onTerminal(['sub', 'chat.>', '--count', '1', '--socket', socketPath]);
    const piped = startCli(['sub', 'chat.>', '--count', '1', '--socket', socketPath]);
    await waitForSubscriptions(socketPath, 2);
    const data = { text: `hi\u2028\u202etxt.exe\x9b2J${FORGED_LINE}` };
    // Header names and topics cannot hold controls or invisible characters at all (PROTOCOL.md §4.1); header values can.
    const headers = { k: `v\n${FORGED_LINE}` };
    publisher.publish('chat.room', data, { headers });
    await Promise.all([terminal.waitForExit(), piped.waitForExit()]);

    const [line, ...more] = lines(terminal.stdout);
    expect(more).toEqual([]);
    expect(line).not.toMatch(CONTROL);
    expect(line).toContain('chat.room');
    expect(line).toContain("'hi\\u2028\\u202etxt.exe\\x9B2J\\x1B[2K\\r12:00:00.000 admin.shutdown \"now\" (uid 0, pid 1)'");
    expect(line).toContain('k=v\\n\\x1b[2K\\r12:00:00.000');
    expect(line).toMatch(new RegExp(`\\(uid ${process.getuid!()}, pid ${process.pid}\\)$`));

    // JSON: the same values to a JSON reader, and nothing raw for a terminal.
    const [json, ...extra] = lines(piped.stdout);
    expect(extra).toEqual([]);
    expect(json).not.toMatch(CONTROL);
    expect(JSON.parse(json!)).toEqual({ topic: 'chat.room', data, headers });
  });

  it('clients: a name cannot add a row or a column, in the table or in JSON (row: terminal escapes)', async () => {
    const { socketPath } = await startBroker();
    await connectClient(socketPath, { name: EVIL_NAME });
    const table = await runCli(['clients', '--socket', socketPath]);
    expect(table.exitCode).toBe(0);
    const rows = lines(table.stdout);
    expect(rows).toHaveLength(3); // the header, the evil client, the CLI itself
    for (const row of rows) expect(row).not.toMatch(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/);
    const columns = rows[0]!.split('\t').length;
    for (const row of rows) expect(row.split('\t')).toHaveLength(columns);
    expect(rows[1]).toContain('evil\\x1b[2K\\r\\n999\\troot\\t0\\troot\\t1');

    const json = await runCli(['clients', '--json', '--socket', socketPath]);
    expect(json.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect((JSON.parse(json.stdout) as Array<{ name: string }>).map((client) => client.name)).toContain(EVIL_NAME);
  });

  it('monitor: a client\'s name on the redrawn screen is escaped (row: terminal escapes)', async () => {
    const { socketPath } = await startBroker();
    await connectClient(socketPath, { name: EVIL_NAME });
    const screen = onTerminal(['monitor', '--interval', '100', '--count', '2', '--socket', socketPath]);
    await screen.waitForExit();
    expect(screen.exitCode).toBe(0);
    // The monitor's own codes: hide and show the cursor, clear the screen.
    const text = screen.stdout.replaceAll('\x1b[?25l', '').replaceAll('\x1b[?25h', '').replaceAll('\x1b[H\x1b[2J', '');
    for (const line of lines(text)) expect(line).not.toMatch(CONTROL);
    expect(text).toContain('evil\\x1b[2K\\r\\n999\\t');
  });

  it('req: the reply is JSON with nothing raw, and a responder\'s error message cannot forge a line on stderr (row: terminal escapes)', async () => {
    const { socketPath } = await startBroker();
    const responder = await connectClient(socketPath);
    responder.subscribe('ask.data', (message) => message.respond(`answer\u2028\x85${FORGED_LINE}`, { headers: { h: FORGED_ROW } }));
    responder.subscribe('ask.fail', (message) => message.respondError(`refused${FORGED_LINE}\nsockbus: all good`, { code: 'NOPE\x1b[2K' }));
    await responder.flush();

    const answered = await runCli(['req', 'ask.data', '--socket', socketPath]);
    expect(answered.exitCode).toBe(0);
    expect(answered.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u202e]/);
    expect(JSON.parse(answered.stdout)).toEqual({ data: `answer\u2028\x85${FORGED_LINE}`, headers: { h: FORGED_ROW } });

    const refused = await runCli(['req', 'ask.fail', '--socket', socketPath]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toBe('sockbus: refused\\x1b[2K\\r12:00:00.000 admin.shutdown "now" (uid 0, pid 1)\\nsockbus: all good\n');
  });
});
