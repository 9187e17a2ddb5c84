import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { makeTempDir, PROJECT_ROOT } from '../helpers/processes.js';

const run = promisify(execFile);

/** What the package may hold: built code, the addon's source, and the documents and files a user needs. */
const SHIPPED = /^(dist\/(protocol|broker|client|cli)\/.+\.(js|d\.ts)|binding\.gyp|broker\/native\/(credentials\.c|build\.mjs)|contrib\/systemd\/.+|clients\/python\/(sockbus\/\w+\.py|README\.md)|README\.md|PROTOCOL\.md|SECURITY\.md|package\.json)$/;

describe('the npm package', () => {
  it('installs globally from its tarball, builds its addon, and its bins and library work', { timeout: 180_000 }, async () => {
    const work = makeTempDir(0o755);
    // dist/ is already built by `npm test`; packing without scripts leaves it alone for the tests running beside this one.
    const { stdout: packed } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: PROJECT_ROOT });
    const [{ filename, files }] = JSON.parse(packed) as Array<{ filename: string; files: Array<{ path: string }> }>;
    expect(files.map((file) => file.path).filter((path) => !SHIPPED.test(path))).toEqual([]);
    // The Python client is a folder now: a files entry that names no file would ship without it, in silence.
    expect(files.map((file) => file.path)).toEqual(expect.arrayContaining(['clients/python/sockbus/__init__.py', 'clients/python/sockbus/__main__.py', 'clients/python/sockbus/client.py']));

    const prefix = join(work, 'prefix');
    await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(work, filename)], { cwd: work });
    const bin = (name: string) => join(prefix, 'bin', name);
    expect((await run(bin('sockbusd'), ['--version'])).stdout).toBe('sockbusd 0.2.0\n');
    expect((await run(bin('sockbus'), ['--version'])).stdout).toBe('sockbus 0.2.0\n');
    expect((await run(bin('sockbus'), ['--help'])).stdout).toMatch(/^Usage: sockbus <command> \[options\]\n/);
    expect((await run(bin('sockbusd'), ['--help'])).stdout).toMatch(/^Usage: sockbusd \[options\]\n/);
    const installed = join(prefix, 'lib/node_modules/sockbus');
    expect(readdirSync(join(installed, 'build/Release'))).toContain('sockbus_native.node');

    // nats is an optional peer dependency: installing sockbus leaves it out, and --bridge says how to add it.
    expect([existsSync(join(installed, 'node_modules/nats')), existsSync(join(prefix, 'lib/node_modules/nats'))]).toEqual([false, false]);
    const bridging = await run(bin('sockbusd'), ['--socket', join(work, 'bridged.sock'), '--bridge', 'nats://127.0.0.1:4222', '--export', 'a.>']).catch((error: { code: number; stderr: string }) => error);
    expect(bridging).toMatchObject({ code: 1, stderr: expect.stringContaining('which is not installed; install it beside sockbus with `npm install nats`') });

    // A program that uses the installed library by its package name, type-checked against the shipped declarations.
    const app = join(work, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    symlinkSync(installed, join(app, 'node_modules/sockbus'));
    writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(
      join(app, 'app.ts'),
      `import { connect, type Message } from 'sockbus';
const bus = await connect({ path: process.argv[2]!, name: 'app' });
const got = new Promise<Message<number>>((resolve) => bus.subscribe<number>('app.x', resolve));
bus.publish('app.x', 42);
const message = await got;
console.log(JSON.stringify({ data: message.data, sender: message.sender }));
await bus.close();
`,
    );
    const tsc = join(PROJECT_ROOT, 'node_modules/.bin/tsc');
    await run(tsc, ['--strict', '--noUncheckedIndexedAccess', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--types', 'node', '--typeRoots', join(PROJECT_ROOT, 'node_modules/@types'), join(app, 'app.ts')], { cwd: app });

    const socketPath = join(work, 'bus.sock');
    const broker = execFile(bin('sockbusd'), ['--socket', socketPath]);
    try {
      const listening = await new Promise<string>((resolve) => broker.stdout!.once('data', (chunk) => resolve(String(chunk))));
      expect(listening).toMatch(/^sockbusd 0\.2\.0 listening on /);
      const { stdout } = await run(process.execPath, [join(app, 'app.js'), socketPath], { cwd: app });
      expect(JSON.parse(stdout)).toMatchObject({ data: 42, sender: { uid: process.getuid!() } });
    } finally {
      broker.kill('SIGTERM');
    }
  });
});
