import { describe, expect, it } from 'vitest';
import { BrokerEventMessage, partsLength } from '../../broker/delivery.js';
import { Logger } from '../../broker/log.js';
import { MemoryBudget, type MemoryAccount } from '../../broker/memory-budget.js';
import type { BrokerLimits } from '../../broker/options.js';
import { CONTROL_ALLOWANCE_BYTES, Outbound } from '../../broker/outbound.js';
import { encodeBody, FRAME_HEADER_BYTES, MessageKind, type BrokerMessage, type Delivery } from '../../protocol/index.js';
import { brokerLimits } from '../helpers/limits.js';
import { socketPair } from '../helpers/socket-pair.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Outbound on a real socket pair, with the limits sockbusd would parse from
 * its flags and a real memory budget: the slow-consumer policy, unit by unit.
 * Frames queued in one tick wait in the batch, so what fits is decided
 * synchronously and exactly.
 */

/** A delivery body as the broker builds it, `bodyBytes` long at least. */
function delivery(index: number, payloadBytes = 1000) {
  const parts = new BrokerEventMessage('load.n', `${index}:`.padEnd(payloadBytes, 'x'), undefined).plainParts();
  return { parts, bodyBytes: partsLength(parts) };
}

async function outboundOn(limits: BrokerLimits, account?: MemoryAccount) {
  const { broker, peer } = await socketPair();
  const logged: string[] = [];
  const budget = new MemoryBudget(limits, new Logger('warn', (line) => logged.push(line)));
  const events = { drops: [] as boolean[], overflows: [] as string[] };
  const ownAccount = account ?? budget.accountFor(1000, 'uid 1000', 'ann');
  const outbound = new Outbound(broker, limits, ownAccount, {
    onDrop: (becauseOfShare) => events.drops.push(becauseOfShare),
    onOverflow: (reason) => events.overflows.push(reason),
  });
  return { outbound, peer, events, account: ownAccount, budget, logged };
}

/** Sends deliveries 0..count-1 in one tick; returns the indexes the policy took. */
function sendMany(outbound: Outbound, count: number, payloadBytes?: number): number[] {
  const taken: number[] = [];
  for (let index = 0; index < count; index++) {
    const { parts, bodyBytes } = delivery(index, payloadBytes);
    if (outbound.sendMessage(parts, bodyBytes)) taken.push(index);
  }
  return taken;
}

const dataOf = (message: BrokerMessage) => String((message as Delivery).data).split(':')[0];

describe('Outbound: the slow-consumer policy', () => {
  it('drop: keeps what fits the buffer, drops and counts the rest, and the peer gets exactly what was kept', async () => {
    const limits = brokerLimits(['--max-pending', '4096']);
    const { outbound, peer, events } = await outboundOn(limits);
    const frameBytes = FRAME_HEADER_BYTES + delivery(0).bodyBytes;
    const fit = Math.floor(4096 / frameBytes);
    expect(outbound.hasRoomFor(delivery(0).bodyBytes)).toBe(true);
    const taken = sendMany(outbound, 10);
    expect(taken).toEqual(Array.from({ length: fit }, (_, index) => index));
    expect(outbound.pendingBytes).toBe(fit * frameBytes);
    expect(outbound.hasRoomFor(delivery(0).bodyBytes)).toBe(false);
    expect(events).toEqual({ drops: Array(10 - fit).fill(false), overflows: [] });
    await peer.waitForCount(fit);
    expect(peer.received.slice(0, fit).map(dataOf)).toEqual(taken.map(String));
    // The kernel took it all: the buffer is empty and has room again.
    await waitFor(() => outbound.pendingBytes === 0, 'the socket to take the batch');
    expect(outbound.hasRoomFor(delivery(0).bodyBytes)).toBe(true);
  });

  it('disconnect: the first message that does not fit asks for the connection to end, and nothing is counted as dropped', async () => {
    const limits = brokerLimits(['--max-pending', '4096', '--slow-consumer', 'disconnect']);
    const { outbound, events } = await outboundOn(limits);
    const fit = Math.floor(4096 / (FRAME_HEADER_BYTES + delivery(0).bodyBytes));
    expect(sendMany(outbound, fit + 2)).toHaveLength(fit);
    expect(events).toEqual({
      drops: [],
      overflows: Array(2).fill('outbound buffer of 4096 bytes is full: the client does not read fast enough'),
    });
  });

  it("the user's memory share: its connections together drop once they hold it, other users are not held back, and reading frees it", async () => {
    // A share smaller than one connection's buffer: the share is what runs out.
    const limits = brokerLimits(['--max-pending', '64KiB', '--max-memory-per-uid', '8KiB']);
    const first = await outboundOn(limits);
    const second = await outboundOn(limits, first.account);
    const other = await outboundOn(limits, first.budget.accountFor(1001, 'uid 1001', 'bob'));
    first.peer.stopReading();
    const frameBytes = FRAME_HEADER_BYTES + delivery(0).bodyBytes;
    const fit = Math.floor(8192 / frameBytes);
    expect(sendMany(first.outbound, fit + 1)).toHaveLength(fit);
    expect(first.account.usedBytes).toBe(fit * frameBytes);
    // The same user's other connection has an empty buffer, but the share is spent.
    expect(sendMany(second.outbound, 1)).toEqual([]);
    expect([first.events.drops, second.events.drops]).toEqual([[true], [true]]);
    // Another user's connection has its own share.
    expect(sendMany(other.outbound, 3)).toEqual([0, 1, 2]);
    expect(other.events.drops).toEqual([]);
    // What the kernel takes is given back to the share, even before the peer reads it.
    await waitFor(() => first.account.usedBytes === first.outbound.pendingBytes, 'the share to follow what still waits');
    first.peer.startReading();
    await first.peer.waitForCount(fit);
    await waitFor(() => first.account.usedBytes === 0, 'the share to be released');
    expect(sendMany(second.outbound, 1)).toEqual([0]);
  });

  it('control frames pass the message bound by the control allowance and no further; a final frame without room is lost silently', async () => {
    const limits = brokerLimits(['--max-pending', '4096']);
    const { outbound, peer, events } = await outboundOn(limits);
    peer.stopReading();
    const kept = sendMany(outbound, 10).length;
    const control = encodeBody({ kind: MessageKind.GoingAway, reason: 'r'.repeat(1000) });
    const controlFrameBytes = FRAME_HEADER_BYTES + control.length;
    const bound = 4096 + CONTROL_ALLOWANCE_BYTES;
    // Until the kernel's buffer is full the socket takes what is written; then the allowance binds.
    let controls = 0;
    let passedMessageBound = false;
    while (events.overflows.length === 0 && controls < 100_000) {
      expect(outbound.controlRoomBytes).toBe(Math.max(0, bound - outbound.pendingBytes - FRAME_HEADER_BYTES));
      outbound.sendControl(control);
      if (events.overflows.length > 0) break;
      controls++;
      if (outbound.pendingBytes > 4096) passedMessageBound = true;
    }
    expect(events.overflows).toEqual(['outbound buffer is full and the client does not read its replies']);
    expect(passedMessageBound).toBe(true);
    expect(outbound.hasRoomFor(delivery(0).bodyBytes)).toBe(false);
    expect(outbound.pendingBytes).toBeLessThanOrEqual(bound);
    expect(outbound.pendingBytes + controlFrameBytes).toBeGreaterThan(bound);
    const pending = outbound.pendingBytes;
    outbound.sendFinal(control);
    expect([outbound.pendingBytes, events.overflows.length]).toEqual([pending, 1]);
    // Everything queued arrives, in order: the messages, every control frame taken, then the notice of the messages dropped.
    peer.startReading();
    await peer.waitForCount(kept + controls + 1);
    expect(peer.received.map((message) => message.kind)).toEqual([...Array(kept).fill(MessageKind.Message), ...Array(controls).fill(MessageKind.GoingAway), MessageKind.Dropped]);
    expect(peer.received.at(-1)).toEqual({ kind: MessageKind.Dropped, count: 10 - kept });
  });

  it('control frames are never dropped for the share, but are counted in it', async () => {
    const limits = brokerLimits(['--max-pending', '64KiB', '--max-memory-per-uid', '4KiB']);
    const { outbound, peer, events, account } = await outboundOn(limits);
    peer.stopReading();
    sendMany(outbound, 10);
    expect(events.drops.every((becauseOfShare) => becauseOfShare)).toBe(true);
    const used = account.usedBytes;
    const pong = encodeBody({ kind: MessageKind.Pong, token: 9 });
    outbound.sendControl(pong);
    expect(account.usedBytes).toBe(used + FRAME_HEADER_BYTES + pong.length);
    expect(events.overflows).toEqual([]);
  });

  it('tells the peer how many it lost in one dropped notice, once the socket drained, after what was kept', async () => {
    // A buffer larger than the kernel's, so the socket itself backs up and drains.
    const limits = brokerLimits(['--max-pending', '1MiB']);
    const { outbound, peer, events } = await outboundOn(limits);
    peer.stopReading();
    const taken = sendMany(outbound, 2000, 1000);
    const lost = 2000 - taken.length;
    expect(lost).toBeGreaterThan(0);
    expect(events.drops).toHaveLength(lost);
    await waitFor(() => outbound.pendingBytes > 0 && outbound.pendingBytes < 1024 * 1024, 'the batch to reach the socket');
    expect(peer.received).toEqual([]);
    peer.startReading();
    await peer.waitForCount(taken.length + 1, 'what was kept and the notice');
    expect(peer.received.slice(0, taken.length).map(dataOf)).toEqual(taken.map(String));
    expect(peer.received.slice(taken.length)).toEqual([{ kind: MessageKind.Dropped, count: lost }]);
    // One notice for the episode: a second drain has nothing to report.
    sendMany(outbound, 1);
    await peer.waitForCount(taken.length + 2);
    expect(peer.received.filter((message) => message.kind === MessageKind.Dropped)).toHaveLength(1);
  });

  it('reports a loss even when the socket never backs up: the notice follows what was kept, in the next batch', async () => {
    // A burst too small to fill the kernel's buffer: no 'drain' ever comes.
    const limits = brokerLimits(['--max-pending', '4096']);
    const { outbound, peer } = await outboundOn(limits);
    const kept = sendMany(outbound, 10).length;
    await peer.waitForCount(kept + 1, 'what was kept and the notice');
    expect(peer.received.slice(kept)).toEqual([{ kind: MessageKind.Dropped, count: 10 - kept }]);
  });

  it("reports a loss to the user's memory share on a connection whose own socket is idle", async () => {
    const limits = brokerLimits(['--max-pending', '64KiB', '--max-memory-per-uid', '8KiB']);
    const full = await outboundOn(limits);
    const idle = await outboundOn(limits, full.account);
    full.peer.stopReading();
    sendMany(full.outbound, 20);
    // In this tick the first one's batch holds the whole share; the idle one has nothing queued.
    expect(sendMany(idle.outbound, 3)).toEqual([]);
    await idle.peer.waitForCount(1, 'the notice');
    expect(idle.peer.received).toEqual([{ kind: MessageKind.Dropped, count: 3 }]);
  });
});
