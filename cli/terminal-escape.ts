/**
 * What a peer wrote, made safe to print. Any client can choose its name, its
 * topics, headers and data, and a responder its error messages; printed raw,
 * ESC starts a terminal command (`\x1b[2K` erases the line), CR returns to
 * its start and LF begins a new one, so a peer could forge lines such as
 * "… (uid 0, pid 1)" or a `root` row in `sockbus clients`. Bidi controls
 * reorder what follows, and U+2028/U+2029 break lines in many viewers.
 * Each such character is shown as an escape instead: `\x1b`, `\r`, `\n`, `\u202e`.
 */

/** C0 controls (tab and newline too), DEL, C1 controls, bidi marks, embeddings, overrides and isolates, line and paragraph separators. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same without C0 and C1: what util.inspect leaves unescaped in strings. */
const UNSAFE_LAYOUT = /[\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** What JSON.stringify leaves raw: C0 it escapes itself. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(character: string): string {
  const named = NAMED[character];
  if (named) return named;
  const code = character.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** A peer's text for a terminal line: every control and layout character escaped. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

const ANY_UNSAFE = new RegExp(UNSAFE.source);

/** Whether `text` holds a character escapeControls would escape. */
export function hasControls(text: string): boolean {
  return ANY_UNSAFE.test(text);
}

/** util.inspect output, which escapes C0 and C1 in strings but not bidi controls or separators. */
export function escapeLayout(text: string): string {
  return text.replace(UNSAFE_LAYOUT, escapeOne);
}

/**
 * JSON text with the characters JSON.stringify leaves raw written as \u
 * escapes: the same value to any JSON reader, and harmless on a terminal.
 * Outside strings JSON is plain ASCII, so replacing anywhere is safe.
 */
export function escapeJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
