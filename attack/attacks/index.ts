import type { Attack } from '../attack.js';
import { bridgeImport } from './bridge-import.js';
import { connectionSlots } from './connection-slots.js';
import { controlFlood } from './control-flood.js';
import { deepWildcards } from './deep-wildcards.js';
import { forgedReplies } from './forged-replies.js';
import { headerFlood } from './header-flood.js';
import { hugeHelloNames } from './huge-hello-names.js';
import { hungBroker } from './hung-broker.js';
import { impostorBroker } from './impostor-broker.js';
import { malformedOptions } from './malformed-options.js';
import { longPatterns } from './long-patterns.js';
import { manyGroups } from './many-groups.js';
import { neverReading } from './never-reading.js';
import { queueHijack } from './queue-hijack.js';
import { retainedChurn } from './retained-churn.js';
import { slowWriter } from './slow-writer.js';
import { startLockSquat } from './start-lock-squat.js';
import { stateFile } from './state-file.js';
import { stateRewrite } from './state-rewrite.js';
import { statsByRight } from './stats-by-right.js';
import { statsLoop } from './stats-loop.js';
import { symlinkedParent } from './symlinked-parent.js';
import { terminalForgery } from './terminal-forgery.js';

/** Every attack, in the order of issue 11. Add a row: a module beside this one, and its name in this list. */
export const ATTACKS: Attack[] = [
  controlFlood,
  forgedReplies,
  impostorBroker,
  startLockSquat,
  stateFile,
  symlinkedParent,
  manyGroups,
  queueHijack,
  bridgeImport,
  statsByRight,
  slowWriter,
  terminalForgery,
  hungBroker,
  malformedOptions,
  // Issue 12: resource exhaustion.
  neverReading,
  longPatterns,
  deepWildcards,
  hugeHelloNames,
  connectionSlots,
  retainedChurn,
  stateRewrite,
  statsLoop,
  headerFlood,
];
