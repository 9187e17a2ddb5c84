import { lstatSync, readFileSync } from 'node:fs';
import type net from 'node:net';
import { ErrorCode, SockbusError } from '../protocol/index.js';
import { loadNativeAddon, socketDescriptor } from './native-addon.js';

/**
 * Whether the process listening on the socket is one the client may talk to.
 * The socket path is world-writable territory (/tmp): any local user may
 * bind it while the real broker is down and collect what clients publish,
 * answer their requests, or feed them forged messages. So before sending
 * anything, even hello, the client asks the kernel who listens (SO_PEERCRED
 * on its own connected socket gives the listener's credentials) and talks
 * only to root, itself, or the user `brokerUid` names.
 */

export const BROKER_UID_ENVIRONMENT_VARIABLE = 'SOCKBUS_BROKER_UID';

/** A user as messages name them. */
export interface UserIdentity {
  uid: number;
  user: string | null;
}

/** Whom a client trusts as its broker besides root and itself, and who asked for it. */
export interface BrokerTrust {
  /** The user `brokerUid` or $SOCKBUS_BROKER_UID names; null when neither does. */
  extra: UserIdentity | null;
  /** Which of the two named it: error messages say so. */
  source: 'option' | 'environment' | null;
}

/** Refused: the broker runs as a user the client does not trust. */
export class UntrustedBrokerError extends SockbusError {
  constructor(
    readonly path: string,
    readonly broker: UserIdentity,
    readonly trust: BrokerTrust,
  ) {
    super(ErrorCode.UntrustedBroker, untrustedBrokerMessage(path, broker, trust, { option: 'brokerUid', environment: `$${BROKER_UID_ENVIRONMENT_VARIABLE}` }));
    this.name = 'UntrustedBrokerError';
  }
}

/**
 * `the broker on PATH runs as mallory (uid 1001), not root or you; pass brokerUid to trust it`,
 * or with a user asked for, `..., not sockbus (uid 998) as brokerUid asks, nor root or you`.
 * `names` says how the caller spells the option and the variable (the CLI: --broker-uid).
 */
export function untrustedBrokerMessage(path: string, broker: UserIdentity, trust: BrokerTrust, names: { option: string; environment: string }): string {
  const runs = `the broker on ${path} runs as ${describeUser(broker)}`;
  if (!trust.extra) return `${runs}, not root or you; pass ${names.option} to trust it`;
  const asker = trust.source === 'environment' ? names.environment : names.option;
  return `${runs}, not ${describeUser(trust.extra)} as ${asker} asks, nor root or you`;
}

export function describeUser({ uid, user }: UserIdentity): string {
  return user === null ? `uid ${uid}` : `${user} (uid ${uid})`;
}

/** Resolves `brokerUid` (a uid or a user name), else $SOCKBUS_BROKER_UID; throws for a name no user has. */
export function resolveBrokerTrust(option: number | string | undefined, environment: NodeJS.ProcessEnv, optionName = 'brokerUid'): BrokerTrust {
  const fromEnvironment = environment[BROKER_UID_ENVIRONMENT_VARIABLE];
  const given = option ?? (fromEnvironment || undefined);
  if (given === undefined) return { extra: null, source: null };
  const source = option === undefined ? 'environment' : 'option';
  const label = source === 'option' ? optionName : `$${BROKER_UID_ENVIRONMENT_VARIABLE}`;
  const uid = typeof given === 'number' ? given : /^\d+$/.test(given) ? Number(given) : userIdOf(given);
  if (uid === null) throw new SockbusError(ErrorCode.UntrustedBroker, `${label} ${JSON.stringify(given)} names no user on this system`);
  if (!Number.isSafeInteger(uid) || uid < 0) throw new SockbusError(ErrorCode.UntrustedBroker, `${label} must be a uid (0 or more) or a user name, not ${JSON.stringify(given)}`);
  return { extra: { uid, user: userNameOf(uid) }, source };
}

/** What a check of the broker found: a refusal or null, and, once, a note that the check was the weaker one. */
export interface BrokerCheck {
  refusal: UntrustedBrokerError | null;
  /** Set when the addon is missing and the socket file's owner stood in for the kernel's word. */
  weaker: string | null;
}

/** Checks the broker at the other end of `socket`, connected to `path`, before anything is sent to it. */
export function checkBroker(socket: net.Socket, path: string, trust: BrokerTrust): BrokerCheck {
  const { addon, unavailableReason } = loadNativeAddon();
  const fd = socketDescriptor(socket);
  let uid: number;
  let weaker: string | null = null;
  if (addon && fd !== null) {
    uid = addon.peerProcess(fd).uid;
  } else {
    // Weaker: the file's owner is whoever bound it, but it could change between this and connect().
    uid = lstatSync(path).uid;
    weaker = `cannot ask the kernel who runs the broker on ${path} (${unavailableReason ?? 'the socket has no descriptor'}); trusting it by the socket file's owner instead, a weaker check`;
  }
  const trusted = uid === 0 || uid === process.getuid?.() || uid === trust.extra?.uid;
  return { refusal: trusted ? null : new UntrustedBrokerError(path, { uid, user: userNameOf(uid) }, trust), weaker };
}

function userNameOf(uid: number): string | null {
  const { addon } = loadNativeAddon();
  if (addon) return addon.userName(uid);
  return passwdEntries().find((fields) => fields[2] === String(uid))?.[0] ?? null;
}

function userIdOf(name: string): number | null {
  const { addon } = loadNativeAddon();
  if (addon) return addon.userId(name);
  const uid = passwdEntries().find((fields) => fields[0] === name)?.[2];
  return uid === undefined ? null : Number(uid);
}

/** Without the addon there is no getpwnam(); /etc/passwd covers local users, not NSS ones (LDAP). */
function passwdEntries(): string[][] {
  try {
    return readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => line.split(':'));
  } catch {
    return [];
  }
}
