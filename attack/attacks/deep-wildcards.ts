import { verdictOf, type Attack } from '../attack.js';
import { expectEvent, LATENCY_BAR, loadPhaseMs, measured, refusalCounts } from '../exhaustion.js';
import { ALICE } from '../users.js';

const HOLDERS = [0, 1, 2];
/** Past the token and wildcard limits: both must be refused. */
const TOO_DEEP = [Array(60).fill('a').join('.'), ['*', '*', '*', '*', ...Array(12).fill('a')].join('.')];
/** 15 tokens `a`, then a number never used twice: every publish walks the whole trie of a/* patterns, never from a cache. */
const TOPIC = Array(15).fill('a').join('.');
/** The broker's CPU per publish must stay under this. */
const MAX_MS_PER_PUBLISH = 1;

/** Issue 12, 3: patterns of wildcards make matching branch at every token; the limits must keep a publish cheap. */
export const deepWildcards: Attack = {
  name: 'deep-wildcards',
  title: 'alice holds every a/* pattern of up to 16 tokens and 3 wildcards (3,212) on 3 connections, tries 60-token and 4-wildcard ones, and publishes to new 16-token topics for 5 s (quick: 2 s)',
  broker: () => [],
  bars: LATENCY_BAR,
  async run(context) {
    const path = context.broker!.socketPath;
    const durationMs = loadPhaseMs(context);
    const failures: string[] = [];
    const holder = context.agent(ALICE, 'pattern-holder', {
      path,
      connections: HOLDERS.length,
      steps: [
        { label: 'too deep', spec: { kind: 'list', patterns: TOO_DEEP }, connections: [0] },
        { label: 'a/*', spec: { kind: 'wildcards', maxTokens: 16, wildcards: 3 }, connections: HOLDERS },
      ],
    });
    const subscribed = await expectEvent(holder, 'subscribed', 30_000, "alice's subscriber", failures);
    const steps = (subscribed?.['steps'] ?? {}) as Record<string, { sent: number; accepted: number; refusals: Record<string, unknown> }>;
    const tooDeep = steps['too deep'];
    if (tooDeep && (tooDeep.accepted > 0 || !tooDeep.refusals['PATTERN_TOO_COMPLEX'])) failures.push(`60-token or 4-wildcard patterns were not refused with PATTERN_TOO_COMPLEX: ${refusalCounts(tooDeep.refusals)}`);
    context.figure('patterns held', `${steps['a/*']?.accepted ?? 0} of ${steps['a/*']?.sent ?? 0} (${refusalCounts(steps['a/*']?.refusals)})`);
    context.figure('too deep', refusalCounts(tooDeep?.refusals));
    const { result: flood, usage } = await measured(context, () => {
      const publisher = context.agent(ALICE, 'publish-loop', { path, topic: TOPIC, uniqueTopics: true, window: 200, durationMs });
      return expectEvent(publisher, 'result', durationMs + 20_000, "alice's publisher", failures);
    });
    holder.command('report');
    const delivered = await holder.nextEvent('result', 5000);
    const published = Number(flood?.['published'] ?? 0);
    const msPerPublish = usage && published ? usage.cpuMs / published : null;
    if (msPerPublish !== null && msPerPublish >= MAX_MS_PER_PUBLISH) failures.push(`each publish cost the broker ${msPerPublish.toFixed(3)} ms of CPU, not under ${MAX_MS_PER_PUBLISH} ms`);
    context.figure('published', published);
    context.figure('CPU per publish ms', msPerPublish === null ? 'n/a' : msPerPublish.toFixed(4));
    return verdictOf(failures, { steps, flood, delivered, usage });
  },
};
