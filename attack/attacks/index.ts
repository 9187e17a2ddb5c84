import type { Attack } from '../attack.js';
import { controlFlood } from './control-flood.js';
import { forgedReplies } from './forged-replies.js';
import { hungBroker } from './hung-broker.js';
import { impostorBroker } from './impostor-broker.js';
import { malformedOptions } from './malformed-options.js';
import { slowWriter } from './slow-writer.js';
import { startLockSquat } from './start-lock-squat.js';
import { stateFile } from './state-file.js';
import { statsByRight } from './stats-by-right.js';
import { symlinkedParent } from './symlinked-parent.js';

/** Every attack, in the order the table lists them (issue 11). Add a row: a module here, and its name below. */
export const ATTACKS: Attack[] = [controlFlood, forgedReplies, impostorBroker, startLockSquat, stateFile, symlinkedParent, statsByRight, slowWriter, hungBroker, malformedOptions];
