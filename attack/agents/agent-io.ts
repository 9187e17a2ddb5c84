import { createInterface } from 'node:readline';

/**
 * What every agent shares: it is started as another user with its task as
 * JSON in argv[2], reports JSON event lines on stdout, and takes command
 * lines on stdin. Agents know nothing of the runner beyond this.
 */
export function task<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}

export function emit(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

type CommandHandler = (command: string, fields: Record<string, unknown>) => void;

/** Calls `handler` for each command line the runner sends; the agent exits when stdin closes unless it has its own plan. */
export function onCommand(handler: CommandHandler): void {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    try {
      const { command, ...fields } = JSON.parse(line) as { command: string };
      handler(command, fields);
    } catch (error) {
      emit('agent-error', { message: (error as Error).message });
    }
  });
}

/** The next command of this name. */
export function nextCommand(name: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => onCommand((command, fields) => command === name && resolve(fields)));
}

/** Ends the agent on an unexpected failure with an event saying why, rather than a bare stack. */
export function runAgent(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      emit('agent-error', { message: (error as Error).message ?? String(error), code: (error as { code?: string }).code });
      process.exit(1);
    },
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
