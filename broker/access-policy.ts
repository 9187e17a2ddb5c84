import { BoundedCache, patternCovers, patternMatches, patternProblem, queueNameProblem } from '../protocol/index.js';
import type { PeerCredentials } from './credentials.js';

/** One entry of the policy: what it allows and denies, and where it came from (for error messages). */
interface Rule {
  source: string;
  publish: string[];
  subscribe: string[];
  denyPublish: string[];
  denySubscribe: string[];
  /** Queue groups the peer may join; under a policy, a group no applying entry lists is refused. */
  queues: string[];
}

const PATTERN_KEYS = ['publish', 'subscribe', 'denyPublish', 'denySubscribe'] as const;
const RULE_KEYS = [...PATTERN_KEYS, 'queues'] as const;
const TOP_LEVEL_KEYS = ['default', 'users', 'groups', 'uids', 'bridge'] as const;

/** Turns the names in a policy file into ids. */
export interface IdentityLookups {
  userId(name: string): number | null;
  groupId(name: string): number | null;
}

/** The broker's own built-in rule: its user and root may read `$SYS.` unless a deny says otherwise. */
const SYSTEM_RULE: Rule = {
  source: 'the built-in rule for root and the broker\'s user',
  publish: [],
  subscribe: ['$SYS.>'],
  denyPublish: [],
  denySubscribe: [],
  queues: [],
};

/** How a peer's requests are checked. */
type CheckMode =
  /** Against the rules of a policy file. */
  | 'rules'
  /** No policy file: everything is allowed except reading `$SYS.`, which needs the built-in rule. */
  | 'open'
  /** No policy file and no credentials: nothing can be checked, so nothing is refused. */
  | 'unchecked';

/**
 * Who may publish and subscribe to what, decided from the kernel's peer
 * credentials. The rules that apply to a peer are `default`, its `uids`
 * entry, its `users` entry and the `groups` entries of its gid and
 * supplementary groups. A deny in any of them wins over an allow in any.
 */
export class AccessPolicy {
  private readonly byIdentity = new Map<string, PeerAccess>();

  private constructor(
    private readonly defaultRule: Rule | null,
    private readonly uidRules: Map<number, Rule>,
    private readonly groupRules: Map<number, Rule>,
    /** What the NATS bridge may do with what it imports; null when the policy has no `bridge` entry. */
    private readonly bridgeRule: Rule | null,
    /** Whether this is the policy of no policy file. */
    readonly open: boolean,
    private readonly brokerUid: number,
  ) {}

  /** The policy when no --acl is given. */
  static openPolicy(brokerUid: number): AccessPolicy {
    return new AccessPolicy(null, new Map(), new Map(), null, true, brokerUid);
  }

  /** Parses a policy file's text; throws an Error naming the first problem and where it is. */
  static parse(text: string, lookups: IdentityLookups, brokerUid: number): AccessPolicy {
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new Error(`not valid JSON: ${(error as Error).message}`);
    }
    const top = asObject(document, 'the policy');
    checkKeys(top, TOP_LEVEL_KEYS, 'the policy');
    const uidRules = new Map<number, Rule>();
    const groupRules = new Map<number, Rule>();
    for (const [key, value] of Object.entries(asObject(top['uids'] ?? {}, 'uids'))) {
      if (!/^\d+$/.test(key)) throw new Error(`uids: "${key}" is not a numeric uid`);
      addRule(uidRules, Number(key), parseRule(value, `uids.${key}`));
    }
    for (const [name, value] of Object.entries(asObject(top['users'] ?? {}, 'users'))) {
      const uid = lookups.userId(name);
      if (uid === null) throw new Error(`users.${name}: no such user on this system`);
      addRule(uidRules, uid, parseRule(value, `users.${name}`));
    }
    for (const [name, value] of Object.entries(asObject(top['groups'] ?? {}, 'groups'))) {
      const gid = lookups.groupId(name);
      if (gid === null) throw new Error(`groups.${name}: no such group on this system`);
      addRule(groupRules, gid, parseRule(value, `groups.${name}`));
    }
    const defaultRule = top['default'] === undefined ? null : parseRule(top['default'], 'default');
    const bridgeRule = top['bridge'] === undefined ? null : parseRule(top['bridge'], 'bridge');
    return new AccessPolicy(defaultRule, uidRules, groupRules, bridgeRule, false, brokerUid);
  }

  /**
   * What the NATS bridge may do. It runs inside the broker, but what it
   * brings in comes from whoever can reach the NATS server, so under a
   * policy it is a principal of its own: the `default` and `bridge` entries
   * apply to it, and nothing else (not the broker's own rights).
   */
  bridgeAccess(): PeerAccess {
    const rules = [this.defaultRule, this.bridgeRule].filter((rule): rule is Rule => rule !== null);
    return new PeerAccess(rules, 'the NATS bridge', this.open ? 'open' : 'rules');
  }

  /** What a peer may do; null credentials (unknown peer) get the default rule only. */
  accessFor(peer: PeerCredentials | null): PeerAccess {
    const key = peer ? `${peer.uid}:${peer.gid}:${peer.groups.join(',')}` : 'unknown';
    let access = this.byIdentity.get(key);
    if (!access) {
      const mode: CheckMode = !this.open ? 'rules' : peer ? 'open' : 'unchecked';
      access = new PeerAccess(this.rulesFor(peer), describePeer(peer), mode);
      this.byIdentity.set(key, access);
    }
    return access;
  }

  private rulesFor(peer: PeerCredentials | null): Rule[] {
    const rules: Rule[] = this.defaultRule ? [this.defaultRule] : [];
    if (!peer) return rules;
    if (peer.uid === 0 || peer.uid === this.brokerUid) rules.push(SYSTEM_RULE);
    const own = this.uidRules.get(peer.uid);
    if (own) rules.push(own);
    for (const gid of new Set([peer.gid, ...peer.groups])) {
      const rule = this.groupRules.get(gid);
      if (rule) rules.push(rule);
    }
    return rules;
  }
}

/** The rules that apply to one peer, and the answers they give. */
export class PeerAccess {
  private readonly withheld = new BoundedCache<string, boolean>();
  /** Whether a subscription this peer holds may still match topics a deny rule withholds. */
  readonly filtersDeliveries: boolean;

  constructor(
    private readonly rules: Rule[],
    /** The peer as error messages name it. */
    readonly who: string,
    private readonly mode: CheckMode,
  ) {
    this.filtersDeliveries = rules.some((rule) => rule.denySubscribe.length > 0);
  }

  /** Why this peer may not publish on `topic`, or null. */
  publishRefusal(topic: string): string | null {
    if (this.mode !== 'rules') return null;
    for (const rule of this.rules) {
      const deny = rule.denyPublish.find((pattern) => patternMatches(pattern, topic));
      if (deny) return `publish on ${topic} denied to ${this.who} by denyPublish "${deny}" in ${rule.source}`;
    }
    if (this.rules.some((rule) => rule.publish.some((pattern) => patternMatches(pattern, topic)))) return null;
    return `publish on ${topic} is not allowed for ${this.who}: no publish pattern in ${this.sources()} matches it`;
  }

  /** Why this peer may not subscribe to `pattern`, or null. */
  subscribeRefusal(pattern: string): string | null {
    if (this.mode === 'unchecked') return null;
    if (this.mode === 'open') {
      if (!isSystemPattern(pattern) || this.rules.includes(SYSTEM_RULE)) return null;
      return `subscribe to ${pattern} is not allowed for ${this.who}: only root and the broker's user may read $SYS. topics unless an --acl policy allows more`;
    }
    for (const rule of this.rules) {
      const deny = rule.denySubscribe.find((denied) => patternCovers(denied, pattern));
      if (deny) return `subscribe to ${pattern} denied to ${this.who} by denySubscribe "${deny}" in ${rule.source}`;
    }
    if (this.rules.some((rule) => rule.subscribe.some((allowed) => patternCovers(allowed, pattern)))) return null;
    return `subscribe to ${pattern} is not allowed for ${this.who}: no subscribe pattern in ${this.sources()} covers it`;
  }

  /** Why this peer may not join queue group `queue`, or null: under a policy, an entry that applies must list it. */
  queueRefusal(queue: string): string | null {
    if (this.mode !== 'rules') return null;
    if (this.rules.some((rule) => rule.queues.includes(queue))) return null;
    return `joining queue group ${queue} is not allowed for ${this.who}: no "queues" list in ${this.sources()} names it`;
  }

  /**
   * Whether a message on `topic` must not reach this peer although one of
   * its subscriptions matches: a subscription allowed as a whole may still
   * reach into a denied part (`>` with `secret.>` denied).
   */
  withholds(topic: string): boolean {
    const known = this.withheld.get(topic);
    if (known !== undefined) return known;
    const withheld = this.rules.some((rule) => rule.denySubscribe.some((pattern) => patternMatches(pattern, topic)));
    return this.withheld.set(topic, withheld);
  }

  private sources(): string {
    return this.rules.length === 0 ? 'the policy (none applies)' : this.rules.map((rule) => rule.source).join(', ');
  }
}

/** Whether a pattern reaches `$SYS.` topics: only a literal first token can (a leading wildcard skips `$`-topics). */
function isSystemPattern(pattern: string): boolean {
  return pattern === '$SYS' || pattern.startsWith('$SYS.');
}

export function describePeer(peer: PeerCredentials | null): string {
  if (!peer) return 'a peer of unknown identity';
  return peer.user === null ? `uid ${peer.uid}` : `user ${peer.user} (uid ${peer.uid})`;
}

function addRule(rules: Map<number, Rule>, id: number, rule: Rule): void {
  // A user named both by name and by uid gets both entries' rules.
  const existing = rules.get(id);
  if (!existing) {
    rules.set(id, rule);
    return;
  }
  rules.set(id, {
    source: `${existing.source} and ${rule.source}`,
    publish: [...existing.publish, ...rule.publish],
    subscribe: [...existing.subscribe, ...rule.subscribe],
    denyPublish: [...existing.denyPublish, ...rule.denyPublish],
    denySubscribe: [...existing.denySubscribe, ...rule.denySubscribe],
    queues: [...existing.queues, ...rule.queues],
  });
}

function parseRule(value: unknown, source: string): Rule {
  const entry = asObject(value, source);
  checkKeys(entry, RULE_KEYS, source);
  const rule: Rule = { source, publish: [], subscribe: [], denyPublish: [], denySubscribe: [], queues: [] };
  for (const key of PATTERN_KEYS) rule[key] = stringList(entry, key, source, 'patterns', patternProblem);
  rule.queues = stringList(entry, 'queues', source, 'queue group names', queueNameProblem);
  return rule;
}

/** The list under `key`, each item checked by `problemOf`; empty when absent. */
function stringList(entry: Record<string, unknown>, key: string, source: string, what: string, problemOf: (item: string) => string | null): string[] {
  const items = entry[key] ?? [];
  if (!Array.isArray(items)) throw new Error(`${source}.${key} must be an array of ${what}`);
  items.forEach((item, index) => {
    const problem = typeof item === 'string' ? problemOf(item) : `${what} must be strings`;
    if (problem) throw new Error(`${source}.${key}[${index}]: ${problem}`);
  });
  return items as string[];
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where} must be a JSON object`);
  return value as Record<string, unknown>;
}

function checkKeys(object: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) throw new Error(`${where}: unknown key "${key}" (expected ${known.join(', ')})`);
  }
}
