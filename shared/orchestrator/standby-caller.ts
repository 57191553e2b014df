/**
 * The caller's side of hot standby (ADR 0038): a call to a step that has a standby goes to
 * the primary under a fresh call id; the moment the primary's link turns suspect or
 * drops, or the registry names another primary, the same call (same id) goes to the
 * standby instead — without waiting for the dead call to time out or for a coordinator.
 * The standby promotes itself on receiving it, and answers from the state the primary
 * shipped when that state already holds the call, so the call is never run twice.
 *
 * Two calls use it: executing a deployment (`chain.run` of step 0 and the chain after it)
 * and calling one module's function (`supervisor.call`, WasmIoT's
 * `/{deployment}/modules/{module}/{function}`, which the HTTP gateway serves).
 * @module
 */
import { randomBytes, toHex } from '../bytes.ts';
import { hasCode } from '../errors.ts';
import type { Unsubscribe } from '../events.ts';
import type { Peer } from '../mesh/peer.ts';
import type { DeploymentRecord } from '../registry/schema.ts';
import type { CallInput } from '../supervisor/call-shapes.ts';
import { type ChainRun, type ChainRunner, type ChainRunResult } from './chain.ts';

/** Errors of a call to a primary after which its standby is asked instead. */
const FAILOVER_CODES = ['ERR_PEER_LEFT', 'ERR_NOT_CONNECTED', 'ERR_PEER_UNREACHABLE', 'ERR_STANDBY_FENCED', 'ERR_ABORTED'];

/** A fresh id for one call, kept when the call is retried on a standby. */
export function newCallId(): string {
  return toHex(randomBytes(12));
}

/** True when step `step` of `r` has a standby. */
export function hasStandby(r: DeploymentRecord, step: number): boolean {
  return (r.standby?.[String(step)] ?? []).length > 0;
}

/**
 * Send one call to step `step`'s primary with `send`, and the same call to its standby as
 * soon as the primary looks gone (file header). `send(target, signal)` must carry one
 * call id whichever peer it goes to; `signal` aborts the call to the primary once the
 * standby is asked. Without a standby, or when this peer is the primary, it is
 * `send(primary)`.
 */
export async function callWithStandby<T>(peer: Peer, r: DeploymentRecord, step: number, primary: string, send: (target: string, signal?: AbortSignal) => Promise<T>): Promise<T> {
  // This peer's own primary refuses a call when a standby holds newer state than its copy
  // (it restarted) or another peer took over: the call follows the takeover as any caller's.
  if (!hasStandby(r, step) || primary === peer.id) return followRefusal(peer, r.id, step, primary, send);
  const controller = new AbortController();
  const offs: Unsubscribe[] = [];
  const gone = new Promise<void>((resolve) => {
    const check = (p: string): void => {
      if (p === primary) resolve();
    };
    offs.push(
      peer.on('link-suspect', check),
      peer.on('device-left', check),
      peer.registry.on('change', (c) => {
        if (c.map === 'deployments' && peer.registry.deployments.get(r.id)?.record.solution[String(step)] !== primary) resolve();
      }),
    );
    if (!peer.alive().includes(primary)) resolve();
  });
  try {
    const first = send(primary, controller.signal);
    first.catch(() => undefined);
    const won = await Promise.race([first.then((out) => ({ out })), gone.then(() => undefined)]);
    if (won) return won.out;
  } catch (error) {
    if (!FAILOVER_CODES.some((code) => hasCode(error, code))) throw error;
  } finally {
    offs.forEach((off) => off());
  }
  controller.abort();
  return followRefusal(peer, r.id, step, standbyTarget(peer, r, step, primary), send);
}

/**
 * `send(target)`; when `target` refuses the call because another peer took the step over
 * meanwhile (a newer epoch, or a standby holding newer state than a restarted primary),
 * once more to the primary the registry names when it names another. A refused call did
 * not run on `target`, or ran there without its state reaching a standby (never
 * acknowledged): the same call id runs it once in the line that goes on.
 */
async function followRefusal<T>(peer: Peer, deploymentId: string, step: number, target: string, send: (target: string) => Promise<T>): Promise<T> {
  try {
    return await send(target);
  } catch (error) {
    if (!hasCode(error, 'ERR_STANDBY_FENCED') && !hasCode(error, 'ERR_NOT_STANDBY')) throw error;
    const next = await namedOtherThan(peer, deploymentId, step, target, REDIRECT_WAIT_MS);
    if (next === undefined) throw error;
    return send(next);
  }
}

/** Longest a caller waits for the registry to name the primary that took over from a peer that refused its call, ms. */
const REDIRECT_WAIT_MS = 5000;

/** The primary of `step` the registry names once it is not `not` (undefined if none within `waitMs`). */
function namedOtherThan(peer: Peer, deploymentId: string, step: number, not: string, waitMs: number): Promise<string | undefined> {
  const named = (): string | undefined => {
    const p = peer.registry.deployments.get(deploymentId)?.record.solution[String(step)];
    return p !== undefined && p !== not ? p : undefined;
  };
  const now = named();
  if (now !== undefined) return Promise.resolve(now);
  return new Promise((resolve) => {
    const off = peer.registry.on('change', (c) => {
      if (c.map !== 'deployments') return;
      const p = named();
      if (p === undefined) return;
      finish();
      resolve(p);
    });
    const timer = peer.clock.setTimeout(() => {
      finish();
      resolve(undefined);
    }, waitMs);
    const finish = (): void => {
      off();
      peer.clock.clearTimeout(timer);
    };
  });
}

/** Where a call goes once its primary looks gone: the primary the registry names now, else the first standby alive. */
function standbyTarget(peer: Peer, r: DeploymentRecord, step: number, primary: string): string {
  const current = peer.registry.deployments.get(r.id)?.record ?? r;
  const placed = current.solution[String(step)];
  if (placed !== undefined && placed !== primary) return placed;
  const alive = new Set(peer.alive());
  const standbys = (current.standby?.[String(step)] ?? r.standby?.[String(step)] ?? []).filter((p) => p !== primary);
  return standbys.find((p) => alive.has(p) || p === peer.id) ?? standbys[0] ?? primary;
}

/**
 * Run step 0 of `r` (and the chain after it) on `primary`, failing over to its standby as
 * the file header says. Without a standby (or when this peer is the primary) it is a
 * plain `chain.run`.
 */
export function runWithStandby(peer: Peer, chain: ChainRunner, r: DeploymentRecord, primary: string, input: CallInput): Promise<ChainRunResult> {
  const run: ChainRun = { deploymentId: r.id, step: 0, input: { ...input, callId: newCallId() } };
  return callWithStandby(peer, r, 0, primary, (target, signal) => chain.runOn(target, run, signal));
}
