import { parseBrokerArguments, type BrokerLimits } from '../../broker/options.js';

/** The limits sockbusd would enforce when started with these flags. */
export function brokerLimits(args: string[]): BrokerLimits {
  const parsed = parseBrokerArguments(args, {});
  if (parsed.action !== 'run') throw new Error(`not a run: ${args.join(' ')}`);
  return parsed.options.limits;
}
