import { verdictOf, type Attack } from '../attack.js';
import { failureOf } from '../processes.js';
import { ALICE } from '../users.js';

/**
 * Issue 11, 14: a client's bad input is INVALID_MESSAGE, never a broker bug
 * with a stack trace. An option the broker does not know is ignored however
 * it is built (PROTOCOL.md §3.0), so deep nesting under an unknown key is
 * skipped, in place and without recursion, and the publish goes through.
 */
const EXPECTED: Record<string, string> = {
  'options nested 100,000 deep': 'accepted (pong)',
  'request id nested 100,000 deep': 'INVALID_MESSAGE',
  'options an extension type': 'INVALID_MESSAGE',
  'request id an extension type': 'INVALID_MESSAGE',
  'retain an extension type': 'INVALID_MESSAGE',
};

export const malformedOptions: Attack = {
  name: 'malformed-options',
  title: 'alice publishes with options nested 100,000 deep, and with extension types for the options, the request id and retain',
  broker: () => [],
  async run(context) {
    const agent = context.agent(ALICE, 'malformed-options', { path: context.broker!.socketPath });
    const result = await agent.nextEvent('result', 30_000);
    if (!result) return verdictOf([`alice's agent did not report: ${failureOf(agent)}`], {});
    const answers = result['answers'] as Record<string, string>;
    const failures = Object.entries(answers)
      .filter(([name, code]) => code !== EXPECTED[name])
      .map(([name, code]) => `${name}: ${code}, not ${EXPECTED[name]}`);
    const log = context.broker!.log;
    const stackLines = log.split('\n').filter((line) => /^\s+at /.test(line));
    if (stackLines.length > 0) failures.push(`the broker logged a stack trace (${stackLines.length} frames)`);
    return verdictOf(failures, { answers, stack: stackLines.slice(0, 3) });
  },
};
