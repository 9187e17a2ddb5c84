/**
 * The characters no topic, pattern, queue group name or header name may
 * hold (PROTOCOL.md §4.1): controls, spaces, and the invisible characters
 * that join, hide or reorder text, so that a name cannot look like another
 * one on a terminal or in a log. An exact list of code points rather than a
 * Unicode property, so that every implementation, whatever its Unicode
 * tables, agrees. Lone surrogates can only come from a JavaScript string
 * (they are not valid UTF-8); they are refused too.
 */
export const REFUSED_CHARACTER =
  /[\u0000-\u0020\u007f-\u00a0\u00ad\u061c\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\u3164\uffa0\ufeff\ufff0-\uffff\ud800-\udfff\u{e0000}-\u{e007f}]/u;

/** The first refused character in `text`, as `U+XXXX`, or null when there is none. */
export function refusedCharacterIn(text: string): string | null {
  const match = REFUSED_CHARACTER.exec(text);
  if (!match) return null;
  return `U+${match[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}
