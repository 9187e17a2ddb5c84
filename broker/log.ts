export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Leveled lines on stderr; stdout carries only the "listening" line. */
export class Logger {
  private readonly threshold: number;

  constructor(
    level: LogLevel,
    /** Where lines go: stderr, or a test's list. */
    private readonly sink: (line: string) => void = (line) => process.stderr.write(line),
  ) {
    this.threshold = LOG_LEVELS.indexOf(level);
  }

  error(message: string): void {
    this.write('error', message);
  }

  warn(message: string): void {
    this.write('warn', message);
  }

  info(message: string): void {
    this.write('info', message);
  }

  debug(message: string): void {
    this.write('debug', message);
  }

  private write(level: LogLevel, message: string): void {
    if (LOG_LEVELS.indexOf(level) > this.threshold) return;
    this.sink(`sockbusd: ${level}: ${message}\n`);
  }
}
