import { verdictOf, type Attack } from '../attack.js';
import { failureOf } from '../processes.js';
import { ALICE } from '../users.js';

/** Issue 11, 1: answers a client never reads must not grow without bound (or overflow the stack). */
export const controlFlood: Attack = {
  name: 'control-flood',
  title: 'alice floods frames answered by control frames (bad topics, $SYS publishes, bad patterns, unanswered requests, pings) and never reads',
  broker: () => [],
  async run(context) {
    const durationMs = context.quick ? 4000 : 10_000;
    const flooder = context.agent(ALICE, 'control-flood', { path: context.broker!.socketPath, durationMs });
    const result = await flooder.nextEvent('result', durationMs + 10_000);
    const failures: string[] = [];
    if (!result) failures.push(`the flooder did not report: ${failureOf(flooder)}`);
    else if (!result['closedByBroker']) failures.push(`alice's connection was still open after ${durationMs / 1000} s of flooding`);
    const log = context.broker!.log;
    const closedBecause = /control-flood\) closed: (.*)/.exec(log)?.[1] ?? null;
    const internalErrors = log.split('\n').filter((line) => line.includes('internal error')).length;
    const stackOverflow = log.includes('Maximum call stack size exceeded');
    return verdictOf(failures, { flooder: result, closedBecause, internalErrors, stackOverflow });
  },
};
