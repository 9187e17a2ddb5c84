import { readFileSync } from 'node:fs';
import { ErrorCode, SockbusError } from '../protocol/index.js';
import { AccessPolicy, type IdentityLookups } from './access-policy.js';

/** The `--acl` file: read at start (a bad one stops the broker) and again on SIGHUP (a bad one keeps the old policy). */
export class PolicyFile {
  constructor(
    readonly path: string,
    private readonly lookups: IdentityLookups,
    private readonly brokerUid: number,
  ) {}

  /** Reads and parses the file; throws INVALID_POLICY saying what is wrong with it, and where. */
  load(): AccessPolicy {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      throw new SockbusError(ErrorCode.InvalidPolicy, `cannot read the access policy ${this.path}: ${(error as Error).message}`);
    }
    try {
      return AccessPolicy.parse(text, this.lookups, this.brokerUid);
    } catch (error) {
      throw new SockbusError(ErrorCode.InvalidPolicy, `the access policy ${this.path} is invalid: ${(error as Error).message}`);
    }
  }
}
