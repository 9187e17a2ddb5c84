import { inspect } from 'node:util';
import type { Message } from '../client/index.js';
import { escapeControls, escapeLayout, hasControls } from './terminal-escape.js';

/** ANSI styles, or none when colour is off (NO_COLOR, or not a terminal). */
export interface Styles {
  dim(text: string): string;
  topic(text: string): string;
  mark(text: string): string;
  colors: boolean;
}

const wrap = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`;

export function stylesFor(colors: boolean): Styles {
  if (!colors) return { dim: String, topic: String, mark: String, colors };
  return { dim: wrap(2, 22), topic: wrap(36, 39), mark: wrap(33, 39), colors };
}

/** Whether to colour: a terminal, and the user did not opt out (https://no-color.org). */
export function wantsColor(stream: NodeJS.WriteStream, environment: NodeJS.ProcessEnv): boolean {
  return Boolean(stream.isTTY) && !environment['NO_COLOR'];
}

/**
 * One message as a line for people: time, topic, data, then headers, a
 * retained mark and the sender, e.g.
 * `12:03:04.123 app.theme "dark" origin=settings (uid 1000, pid 4242)`.
 */
export function messageToTerminalLine(message: Message, styles: Styles, now = new Date()): string {
  const time = styles.dim(now.toTimeString().slice(0, 8) + '.' + String(now.getMilliseconds()).padStart(3, '0'));
  const parts = [time, styles.topic(escapeControls(message.topic)), inspectSafely(message.data, styles.colors)];
  for (const [key, value] of Object.entries(message.headers ?? {})) parts.push(styles.dim(`${escapeControls(key)}=${escapeControls(String(value))}`));
  if (message.retained) parts.push(styles.mark('[retained]'));
  if (message.isRequest) parts.push(styles.mark('[request]'));
  const sender = message.sender;
  if (sender) parts.push(styles.dim(escapeControls(`(uid ${sender.uid}${sender.pid === null ? '' : `, pid ${sender.pid}`})`)));
  return parts.join(' ');
}

/**
 * The data as util.inspect shows it, which escapes controls inside strings
 * but leaves bidi controls and line separators; should it ever leave a
 * control raw (a type it prints without quoting), the data is shown
 * uncoloured with everything escaped, since colour codes and a peer's
 * controls could not then be told apart.
 */
function inspectSafely(data: unknown, colors: boolean): string {
  const options = { depth: 6, breakLength: Infinity, compact: true } as const;
  const plain = inspect(data, { ...options, colors: false });
  if (hasControls(escapeLayout(plain))) return escapeControls(plain);
  return escapeLayout(colors ? inspect(data, { ...options, colors }) : plain);
}
