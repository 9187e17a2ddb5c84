import { verdictOf, type Attack } from '../attack.js';
import { failureOf } from '../processes.js';
import { ALICE } from '../users.js';

/** Issue 11, 14: a client's bad input is INVALID_MESSAGE, never a broker bug with a stack trace. */
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
      .filter(([, code]) => code !== 'INVALID_MESSAGE')
      .map(([name, code]) => `${name}: ${code}`);
    const log = context.broker!.log;
    const stackLines = log.split('\n').filter((line) => /^\s+at /.test(line));
    if (stackLines.length > 0) failures.push(`the broker logged a stack trace (${stackLines.length} frames)`);
    return verdictOf(failures, { answers, stack: stackLines.slice(0, 3) });
  },
};
