import { describe, expect, it } from 'vitest';
import { ErrorCode, SockbusError } from '../../protocol/index.js';
import type { ClientState } from '../../client/events.js';
import { Lifecycle, type LifecycleHooks } from '../../client/lifecycle.js';
import { resolveClientOptions } from '../../client/options.js';
import { Session } from '../../client/session.js';
import { startBroker } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';

/** A loop whose hooks record every transition; `open` is given, the rest only listen. */
function recordedLoop(open: LifecycleHooks['open'], options: { waitForBroker?: boolean; maxAttempts?: number; path?: string } = {}) {
  const events: string[] = [];
  const attempts: number[] = [];
  const policy = (attempt: number) => {
    attempts.push(attempt);
    return attempt < (options.maxAttempts ?? Infinity) ? 5 : null;
  };
  const loop = new Lifecycle(
    { path: options.path ?? '/nonexistent/bus.sock', reconnect: true, reconnectPolicy: policy, waitForBroker: options.waitForBroker ?? false },
    {
      open,
      attached: (_session, isReconnect) => events.push(isReconnect ? 'reattached' : 'attached'),
      ended: () => events.push('ended'),
      lost: (reason) => events.push(`lost ${reason.code}`),
      attemptFailed: (reason) => events.push(`attempt failed ${reason.code}`),
      finished: (reason) => events.push(`finished ${reason?.code ?? 'by close'}`),
      stateChanged: (state: ClientState) => events.push(`state ${state}`),
    },
  );
  return { loop, events, attempts };
}

const unavailable = () => Promise.reject(new SockbusError(ErrorCode.BrokerUnavailable, 'no broker'));

describe('the client loop, in-process', () => {
  it('without waitForBroker, a first attempt that fails ends it: started rejects with why, and it is closed', async () => {
    const { loop, events } = recordedLoop(unavailable);
    loop.start();
    await expect(loop.started).rejects.toMatchObject({ code: ErrorCode.BrokerUnavailable });
    expect(events).toEqual(['state closed', 'finished BROKER_UNAVAILABLE']);
    expect(loop.state).toBe('closed');
  });

  it('with waitForBroker, it retries as the policy says, then gives up', async () => {
    const { loop, events, attempts } = recordedLoop(unavailable, { waitForBroker: true, maxAttempts: 3 });
    loop.start();
    await expect(loop.started).rejects.toMatchObject({ code: ErrorCode.BrokerUnavailable });
    expect(attempts).toEqual([0, 1, 2, 3]);
    expect(events).toEqual(['state closed', 'finished BROKER_UNAVAILABLE']);
  });

  it('a broker that speaks another version is not retried, even with waitForBroker', async () => {
    let opened = 0;
    const { loop } = recordedLoop(() => {
      opened++;
      return Promise.reject(new SockbusError(ErrorCode.UnsupportedVersion, 'version'));
    }, { waitForBroker: true });
    loop.start();
    await expect(loop.started).rejects.toMatchObject({ code: ErrorCode.UnsupportedVersion });
    expect(opened).toBe(1);
  });

  it('close() during the wait between attempts: it resolves, started learns why, and nothing more is tried', async () => {
    let opened = 0;
    const { loop, events } = recordedLoop(() => {
      opened++;
      return unavailable();
    }, { waitForBroker: true });
    loop.start();
    await waitFor(() => opened >= 2, 'two attempts');
    await loop.close();
    const attemptsAtClose = opened;
    await expect(loop.started).rejects.toMatchObject({ code: ErrorCode.ClientClosed, message: 'the client was closed before it connected' });
    expect(events).toEqual(['state closed', 'finished by close']);
    expect(opened).toBe(attemptsAtClose);
    await expect(loop.usableSession()).rejects.toMatchObject({ code: ErrorCode.ClientClosed });
  });

  it('against a real broker: attached, then lost when the broker dies, then attached again when it is back', async () => {
    const broker = await startBroker();
    const options = resolveClientOptions({ path: broker.socketPath });
    const open = (signal: AbortSignal) => Session.open({ ...options, onMessage: () => undefined, onUndecodable: () => undefined, checkBroker: () => null, signal });
    const { loop, events } = recordedLoop(open, { path: broker.socketPath });
    loop.start();
    await loop.started;
    expect(loop.state).toBe('connected');
    await broker.child.kill('SIGKILL');
    await waitFor(() => events.includes('state reconnecting'), 'the loss to be seen');
    const restarted = await startBroker({ socketPath: broker.socketPath });
    await waitFor(() => events.includes('reattached'), 'the second session');
    await loop.close();
    expect(events.filter((event) => !event.startsWith('lost'))).toEqual([
      'attached', 'state connected', 'ended', 'state reconnecting', 'reattached', 'state connected', 'ended', 'state closed', 'finished by close',
    ]);
    expect(restarted.child.running).toBe(true);
  });
});
