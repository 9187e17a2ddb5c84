/** How an agent makes the patterns it subscribes to, so a task names thousands of them in a few bytes. */
export type PatternSpec =
  /** `count` different patterns of `tokens` tokens of `tokenBytes` characters each (patternsOf's offset keeps connections apart). */
  | { kind: 'distinct'; tokens: number; tokenBytes: number; count: number }
  /** Every pattern of 1 to `maxTokens` tokens, each `a` or `*`, with at most `wildcards` stars. */
  | { kind: 'wildcards'; maxTokens: number; wildcards: number }
  | { kind: 'list'; patterns: string[] };

const DIGITS = 36;
/** Base-36 digits of an index, enough for a million distinct patterns. */
const INDEX_DIGITS = 4;

export function patternsOf(spec: PatternSpec, offset = 0): string[] {
  switch (spec.kind) {
    case 'distinct':
      return Array.from({ length: spec.count }, (_, index) => distinct(offset * spec.count + index, spec.tokens, spec.tokenBytes));
    case 'wildcards':
      return wildcardPatterns(spec.maxTokens, spec.wildcards);
    case 'list':
      return spec.patterns;
  }
}

/** The index spread over the first tokens, every token padded with `x` to its width. */
function distinct(index: number, tokens: number, tokenBytes: number): string {
  const digits = index.toString(DIGITS).padStart(INDEX_DIGITS, '0');
  const parts: string[] = [];
  for (let token = 0; token < tokens; token++) {
    const chunk = digits.slice(token * tokenBytes, (token + 1) * tokenBytes);
    parts.push(chunk.padStart(tokenBytes, 'x'));
  }
  return parts.join('.');
}

function wildcardPatterns(maxTokens: number, wildcards: number): string[] {
  const patterns: string[] = [];
  const extend = (tokens: string[], stars: number) => {
    if (tokens.length > 0) patterns.push(tokens.join('.'));
    if (tokens.length === maxTokens) return;
    extend([...tokens, 'a'], stars);
    if (stars < wildcards) extend([...tokens, '*'], stars + 1);
  };
  extend([], 0);
  return patterns;
}
