import { verdictOf, type Attack } from '../attack.js';
import { expectEvent, measured, MEMORY_BAR, refusalCounts, refusalText, userRow } from '../exhaustion.js';
import { ALICE } from '../users.js';

const CONNECTIONS = [0, 1, 2, 3];
/** One-byte tokens: 127 of them are 253 bytes, inside the 256-byte pattern limit. */
const LONG = { kind: 'distinct', tokens: 127, tokenBytes: 1 } as const;
/** 16 tokens of 15 bytes (255 bytes): the longest patterns the token limit lets through. */
const WIDE = { kind: 'distinct', tokens: 16, tokenBytes: 15 } as const;

/** What each step must be refused with: the limit's own flag in the broker's text. */
const EXPECTED: Record<string, { code: string; text: RegExp }> = {
  '127 tokens': { code: 'PATTERN_TOO_COMPLEX', text: /has 127 tokens, more than the 16 the broker allows \(--max-pattern-tokens\)/ },
  '16 tokens': { code: 'TOO_MANY_SUBSCRIPTIONS', text: /this connection's patterns would take more than the 262144 bytes the broker allows one connection \(--max-pattern-bytes\)/ },
  'a fifth connection': { code: 'TOO_MANY_SUBSCRIPTIONS', text: /the patterns of user \S+ \(uid \d+\) would take more than the 1048576 bytes the broker allows one user \(--max-pattern-bytes-per-uid\)/ },
};

/** Issue 12, 2: long distinct patterns cost the broker a trie node a token; the limits must bound them. */
export const longPatterns: Attack = {
  name: 'long-patterns',
  title: 'alice, 4 connections x 10,000 distinct 127-token patterns (quick: 2,000), then distinct 16-token patterns until refused, then a fifth connection',
  broker: () => [],
  bars: MEMORY_BAR,
  async run(context) {
    const failures: string[] = [];
    const steps = [
      { label: '127 tokens', spec: { ...LONG, count: context.quick ? 2000 : 10_000 }, connections: CONNECTIONS },
      // More than fit one connection's 256 KiB (1,028 of 255 bytes), so each finds its limit.
      { label: '16 tokens', spec: { ...WIDE, count: 1100 }, connections: CONNECTIONS, untilRefused: true },
      { label: 'a fifth connection', spec: { ...WIDE, count: 10 }, connections: [4] },
    ];
    const { result: subscribed } = await measured(context, () => {
      const holder = context.agent(ALICE, 'pattern-holder', { path: context.broker!.socketPath, connections: 5, steps });
      return expectEvent(holder, 'subscribed', 60_000, "alice's subscriber", failures);
    });
    const outcomes = (subscribed?.['steps'] ?? {}) as Record<string, { sent: number; accepted: number; refusals: unknown }>;
    for (const [label, { code, text }] of Object.entries(EXPECTED)) {
      const outcome = outcomes[label];
      if (!outcome) continue;
      const said = refusalText(outcome.refusals, code);
      if (!said || !text.test(said)) failures.push(`${label}: not refused with ${code} naming its limit (${refusalCounts(outcome.refusals)}: ${said ?? JSON.stringify(outcome.refusals).slice(0, 200)})`);
      context.figure(label, `${outcome.accepted} of ${outcome.sent} taken; ${refusalCounts(outcome.refusals)}`);
    }
    if (outcomes['127 tokens'] && outcomes['127 tokens'].accepted > 0) failures.push(`${outcomes['127 tokens'].accepted} patterns of 127 tokens were taken`);
    if (Number(subscribed?.['closed'] ?? 0) > 0) failures.push(`${String(subscribed?.['closed'])} of alice's connections were closed: refusals should leave them usable`);
    const alice = userRow(await context.broker!.stats(), ALICE);
    context.figure('alice memory MiB', alice ? (Number(alice['memoryBytes']) / 2 ** 20).toFixed(1) : 'n/a');
    return verdictOf(failures, { steps: outcomes, alice });
  },
};
