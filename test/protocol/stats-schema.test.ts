import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { MessageKind, type Stats } from '../../protocol/index.js';
import { startBroker } from '../helpers/broker.js';
import { connectClient } from '../helpers/clients.js';
import { PROJECT_ROOT } from '../helpers/processes.js';
import { RawConnection } from '../helpers/raw-connection.js';

/**
 * The stats answer is described three times over, and they must agree: the
 * tables of PROTOCOL.md §3.11, the interfaces of protocol/stats.ts, and what
 * a real broker sends. The interfaces are read from their source, so a key
 * added to one and not the others fails here.
 */

interface Keys {
  required: string[];
  optional: string[];
}

/** Each interface's own and inherited keys, read from protocol/stats.ts as the compiler parses it. */
function interfaceKeys(): Map<string, Keys> {
  const path = join(PROJECT_ROOT, 'protocol/stats.ts');
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true);
  const declared = new Map<string, { keys: Keys; parents: string[] }>();
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node)) return;
    const keys: Keys = { required: [], optional: [] };
    for (const member of node.members) {
      if (!ts.isPropertySignature(member)) continue;
      (member.questionToken ? keys.optional : keys.required).push(member.name.getText(source));
    }
    const parents = (node.heritageClauses ?? []).flatMap((clause) => clause.types.map((type) => type.expression.getText(source)));
    declared.set(node.name.text, { keys, parents });
  });
  const resolve = (name: string): Keys => {
    const { keys, parents } = declared.get(name)!;
    const inherited = parents.map(resolve);
    return {
      required: [...inherited.flatMap((parent) => parent.required), ...keys.required],
      optional: [...inherited.flatMap((parent) => parent.optional), ...keys.optional],
    };
  };
  return new Map([...declared.keys()].map((name) => [name, resolve(name)]));
}

/** The keys in the first column of the table that follows `heading` in §3.11 ("server, pid, socket" is three). */
function tableKeys(section: string, heading: string): string[] {
  const start = section.indexOf(heading);
  expect(start, `PROTOCOL.md §3.11 has "${heading}"`).toBeGreaterThanOrEqual(0);
  const rows = section.slice(start).split('\n').slice(1);
  const table = rows.slice(rows.findIndex((line) => line.startsWith('|')));
  const keys: string[] = [];
  for (const line of table.slice(2)) {
    if (!line.startsWith('|')) break;
    keys.push(...line.split('|')[1]!.split(',').map((key) => key.trim()));
  }
  return keys;
}

function statsSection(): string {
  const protocol = readFileSync(join(PROJECT_ROOT, 'PROTOCOL.md'), 'utf8');
  return protocol.slice(protocol.indexOf('### 3.11 '), protocol.indexOf('### 3.12 '));
}

const sorted = (keys: Iterable<string>) => [...keys].sort();
const all = (keys: Keys) => sorted([...keys.required, ...keys.optional]);

describe('the stats schema (PROTOCOL.md §3.11, protocol/stats.ts)', () => {
  const types = interfaceKeys();

  it('PROTOCOL.md lists exactly the keys of the types', () => {
    const section = statsSection();
    expect(sorted(tableKeys(section, 'Version 2 brokers send:'))).toEqual(all(types.get('BrokerStats')!));
    expect(sorted(tableKeys(section, 'Each map of `users`:'))).toEqual(all(types.get('UserEntry')!));
    expect(sorted(tableKeys(section, 'Each map of `clients`:'))).toEqual(all(types.get('ClientEntry')!));
    // The bridge's section is described in one row: its keys are named there.
    const bridgeRow = section.split('\n').find((line) => line.startsWith('| bridge '))!;
    for (const key of all(types.get('BridgeStats')!)) expect(bridgeRow).toContain(key);
  });

  it("a real broker's answer has exactly the types' keys, at every level", async () => {
    const { socketPath } = await startBroker();
    // Another client, so that the clients list holds more than the asker; both have credentials here.
    await connectClient(socketPath, { name: 'bystander' });
    const raw = await RawConnection.open(socketPath);
    raw.sendValue([MessageKind.StatsRequest, 7]);
    const { stats } = (await raw.waitForKind(MessageKind.Stats)) as Stats;
    const brokerStats = types.get('BrokerStats')!;
    // A broker without --bridge sends every key but the bridge's.
    expect(brokerStats.optional).toEqual(['bridge']);
    expect(sorted(Object.keys(stats))).toEqual(sorted(brokerStats.required));
    expect(stats.users.length).toBeGreaterThan(0);
    for (const user of stats.users) expect(sorted(Object.keys(user))).toEqual(all(types.get('UserEntry')!));
    expect(stats.clients.map((client) => client.name).sort()).toEqual(['bystander', 'raw']);
    // With peer credentials, a client's row has its optional uid, user and pid too.
    for (const client of stats.clients) expect(sorted(Object.keys(client))).toEqual(all(types.get('ClientEntry')!));
  });
});
