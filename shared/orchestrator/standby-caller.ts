/**
 * The caller's side of hot standby (ADR 0038): a call to a step that has a standby goes to
 * the primary under a fresh call id; the moment the primary's link turns suspect or
 * drops, or the registry names another primary, the same call (same id) goes to the
 * standby instead — without waiting for the dead call to time out or for a coordinator.
 * The standby promotes itself on receiving it, and answers from the state the primary
 * shipped when that state already holds the call, so the call is never run twice.
 * @module
 */
import { randomBytes, toHex } from '../bytes.ts';
import { hasCode } from '../errors.ts';
import type { Unsubscribe } from '../events.ts';
import type { Peer } from '../mesh/peer.ts';
import type { DeploymentRecord } from '../registry/schema.ts';
import type { CallInput } from '../supervisor/call-shapes.ts';
import { CHAIN_HOP_TIMEOUT_MS, type ChainRun, type ChainRunner, type ChainRunResult } from './chain.ts';

/** Errors of a call to a primary after which its standby is asked instead. */
const FAILOVER_CODES = ['ERR_PEER_LEFT', 'ERR_NOT_CONNECTED', 'ERR_PEER_UNREACHABLE', 'ERR_STANDBY_FENCED', 'ERR_ABORTED'];

/**
 * Run step 0 of `r` (and the chain after it) on `primary`, failing over to its standby as
 * the file header says. Without a standby (or when this peer is the primary) it is a
 * plain `chain.run`.
 */
export async function runWithStandby(peer: Peer, chain: ChainRunner, r: DeploymentRecord, primary: string, input: CallInput): Promise<ChainRunResult> {
  const run: ChainRun = { deploymentId: r.id, step: 0, input: { ...input, callId: toHex(randomBytes(12)) } };
  if ((r.standby?.['0'] ?? []).length === 0 || primary === peer.id) return chain.runOn(primary, run);
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
        if (c.map === 'deployments' && peer.registry.deployments.get(r.id)?.record.solution['0'] !== primary) resolve();
      }),
    );
    if (!peer.alive().includes(primary)) resolve();
  });
  try {
    const first = peer.call(primary, 'chain.run', run, { timeoutMs: CHAIN_HOP_TIMEOUT_MS, signal: controller.signal });
    first.catch(() => undefined);
    const won = await Promise.race([first.then((out) => ({ out })), gone.then(() => undefined)]);
    if (won) return won.out;
  } catch (error) {
    if (!FAILOVER_CODES.some((code) => hasCode(error, code))) throw error;
  } finally {
    offs.forEach((off) => off());
  }
  controller.abort();
  const current = peer.registry.deployments.get(r.id)?.record ?? r;
  const alive = new Set(peer.alive());
  const placed = current.solution['0'];
  const target = placed !== undefined && placed !== primary ? placed : (r.standby?.['0'] ?? []).find((p) => alive.has(p) || p === peer.id) ?? r.standby!['0']![0]!;
  return chain.runOn(target, run);
}
