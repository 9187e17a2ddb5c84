import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Child, PROJECT_ROOT, track } from '../helpers/processes.js';

/** Debian's python3, which has python3-msgpack; a python3 earlier on PATH (pyenv) may not. */
export const PYTHON = '/usr/bin/python3';

/**
 * The directory holding the sockbus package (the folder sockbus/) under test. SOCKBUS_PYTHON_CLIENT_DIR
 * points it elsewhere, e.g. at an older copy, to see these tests fail on it.
 */
export const PYTHON_CLIENT_DIR = process.env['SOCKBUS_PYTHON_CLIENT_DIR'] ?? join(PROJECT_ROOT, 'clients/python');

/** A Python program using the client as a library; killed after the test if still running. */
export function pythonScript(code: string, args: string[] = [], environment: NodeJS.ProcessEnv = {}): Child {
  const program = `import sys\nsys.path.insert(0, ${JSON.stringify(PYTHON_CLIENT_DIR)})\nimport sockbus\n${code}`;
  return track(new Child(spawn(PYTHON, ['-c', program, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...environment } })));
}

/** The client's command line, `python3 -m sockbus ARGS`, with the client on its path; killed after the test if still running. */
export function pythonCli(args: string[]): Child {
  return track(new Child(spawn(PYTHON, ['-m', 'sockbus', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONPATH: PYTHON_CLIENT_DIR } })));
}

/** A Python file run with the client on its path. */
export function pythonFile(file: string, args: string[] = []): Child {
  return track(new Child(spawn(PYTHON, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SOCKBUS_PYTHON_CLIENT_DIR: PYTHON_CLIENT_DIR } })));
}

/** The JSON lines a script printed. */
export function jsonLines(child: Child): any[] {
  return child.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

/** Python that prints every callback as one JSON line, for a test's own code to add to; `connect()` wires them all. */
export const REPORTING = `import json, threading, time
printing = threading.Lock()
def say(**fields):
    # One write per line, under a lock: callbacks print from the reader thread too.
    with printing:
        sys.stdout.write(json.dumps(fields, default=repr) + "\\n")
        sys.stdout.flush()
def on_error(error):
    say(event="error", code=error.code, message=error.message, about=error.about)
def on_dropped(notice):
    say(event="dropped", source=notice.source, count=notice.count, reason=notice.reason)
def on_disconnect(reason):
    say(event="disconnect", code=reason.code, message=reason.message)
def until(condition, what, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for " + what)
        time.sleep(0.005)
def connect(**options):
    return sockbus.connect(sys.argv[1], "py", on_error=on_error, on_dropped=on_dropped, on_disconnect=on_disconnect, **options)
`;

/** The lines of one event. */
export const events = (lines: any[], event: string) => lines.filter((line) => line.event === event);
