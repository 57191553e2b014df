/**
 * Executing a deployment: step 0 runs on its peer; its output (a value, bytes or an
 * output file) goes straight to the next step's peer, and so on down the chain (or the
 * graph, when a step fans out). Each peer runs its step and forwards; the results flow
 * back along the same calls, so the caller gets the final result plus every step's
 * intermediate result and timing. Consecutive steps on one peer call each other
 * in-process, without a network hop.
 * @module
 */
import { utf8 } from '../bytes.ts';
import type { Unsubscribe } from '../events.ts';
import type { Peer } from '../mesh/peer.ts';
import type { FunctionDescription } from '../registry/schema.ts';
import type { CallInput, CallOutcome, OutputFile, Supervisor } from '../supervisor/supervisor.ts';
import { UnknownDeploymentError } from './errors.ts';

/** One step's outcome as the caller sees it. */
export interface StepTrace {
  step: number;
  peer: string;
  module: string;
  func: string;
  value: number | string | null;
  bytes?: Uint8Array;
  files: OutputFile[];
  /** Time the function itself ran, ms. */
  durationMs: number;
  /** Time from this peer receiving the step to having the step's whole subtree done, ms. */
  totalMs: number;
  requestId: string;
}

/** Parameters of `chain.run`. */
export interface ChainRun {
  deploymentId: string;
  step: number;
  input: CallInput;
}

/** Result of `chain.run`: traces of the step and everything after it, in run order. */
export interface ChainRunResult {
  steps: StepTrace[];
  /** Indices (into `steps`) of the traces of final steps (no next step). */
  leaves: number[];
}

declare module '../rpc/methods.ts' {
  interface MeshMethods {
    /** Run one step of a deployment here and forward its output down the chain. */
    'chain.run': { params: ChainRun; result: ChainRunResult };
  }
}

/** Time limit of one hop, covering everything downstream of it. */
export const CHAIN_HOP_TIMEOUT_MS = 120_000;

/** Runs steps on this peer and forwards their outputs. */
export class ChainRunner {
  readonly #peer: Peer;
  readonly #supervisor: Supervisor;

  constructor(peer: Peer, supervisor: Supervisor) {
    this.#peer = peer;
    this.#supervisor = supervisor;
  }

  /** Serve `chain.run` for other peers. */
  serve(): Unsubscribe {
    return this.#peer.rpc.handle('chain.run', (p) => this.run(p));
  }

  /** Run `step` of a deployment on `peer` (`signal` aborts a call to another peer). */
  runOn(peer: string, run: ChainRun, signal?: AbortSignal): Promise<ChainRunResult> {
    if (peer === this.#peer.id) return this.run(run);
    return this.#peer.call(peer, 'chain.run', run, { timeoutMs: CHAIN_HOP_TIMEOUT_MS, ...(signal ? { signal } : {}) });
  }

  /** Run `step` here, then its next steps wherever they are placed. */
  async run(p: ChainRun): Promise<ChainRunResult> {
    const t0 = performance.now();
    const view = this.#peer.registry.deployments.get(p.deploymentId);
    const steps = view?.record.steps;
    const step = steps?.[p.step];
    if (!view || !step) throw new UnknownDeploymentError(`no step ${p.step} of deployment ${p.deploymentId}`, { deploymentId: p.deploymentId, step: p.step });
    const input: CallInput = { method: 'chain' };
    if (p.input.args !== undefined) input.args = p.input.args;
    if (p.input.files !== undefined) input.files = p.input.files;
    if (p.input.input !== undefined) input.input = p.input.input;
    if (typeof p.input.callId === 'string') input.callId = p.input.callId.slice(0, 64);
    const outcome = await this.#supervisor.call(p.deploymentId, step.name, step.func, input);
    const trace: StepTrace = {
      step: p.step, peer: this.#peer.id, module: step.name, func: step.func, value: outcome.value,
      files: outcome.files, durationMs: outcome.durationMs, totalMs: 0, requestId: outcome.requestId,
    };
    if (outcome.bytes) trace.bytes = outcome.bytes;
    const out: ChainRunResult = { steps: [trace], leaves: [] };
    if (step.next.length === 0) out.leaves.push(0);
    const downstream = await Promise.all(
      step.next.map((n) => {
        const nextStep = steps[n];
        // A clone of the next step on this peer serves it without a hop.
        const peer = view.record.replicas?.[String(n)]?.includes(this.#peer.id) ? this.#peer.id : view.record.solution[String(n)];
        if (!nextStep || !peer) throw new UnknownDeploymentError(`step ${n} of deployment ${p.deploymentId} is not placed`);
        const fn = this.#peer.registry.modules.get(nextStep.module)?.functions[nextStep.func];
        return this.runOn(peer, { deploymentId: p.deploymentId, step: n, input: nextInput(outcome, fn) });
      }),
    );
    for (const d of downstream) {
      const offset = out.steps.length;
      out.steps.push(...d.steps);
      out.leaves.push(...d.leaves.map((l) => l + offset));
    }
    trace.totalMs = performance.now() - t0;
    return out;
  }
}

/**
 * Turn one step's outcome into the next step's input, by what the next function takes:
 * execution-stage mounts get output files of the same name (or the only output file),
 * a `bytes` function gets the output bytes (or the only output file), and scalar
 * parameters get the result value.
 */
export function nextInput(outcome: CallOutcome, next: FunctionDescription | undefined): CallInput {
  const input: CallInput = {};
  const onlyFile = outcome.files.length === 1 ? outcome.files[0]!.bytes : undefined;
  const execMounts = (next?.mounts ?? []).filter((m) => m.stage === 'execution');
  if (execMounts.length > 0) {
    const files: Record<string, Uint8Array> = {};
    for (const m of execMounts) {
      const bytes = outcome.files.find((f) => f.name === m.name)?.bytes ?? (execMounts.length === 1 ? onlyFile ?? outcome.bytes : undefined);
      if (bytes) files[m.name] = bytes;
    }
    input.files = files;
  }
  const takesBytes = next?.pointer !== undefined || (next?.params ?? []).some((p) => p.type === 'bytes');
  if (takesBytes) {
    const bytes = outcome.bytes ?? onlyFile ?? (outcome.value === null ? undefined : utf8(String(outcome.value)));
    if (bytes) input.input = bytes;
  } else if ((next?.params.length ?? 0) > 0 && outcome.value !== null) {
    input.args = [outcome.value];
  }
  return input;
}
