/**
 * The supervisor's RPC face: other peers call functions, read the request history and
 * list what runs here.
 * @module
 */
import type { Unsubscribe } from '../events.ts';
import type { Rpc } from '../rpc/rpc.ts';
import type { MeshMethods } from '../rpc/methods.ts';
import type { HistoryEntry, HistoryQuery } from './history.ts';
import type { CallInput, CallOutcome } from './call-shapes.ts';
import type { DeployedModule, Supervisor } from './supervisor.ts';

declare module '../rpc/methods.ts' {
  interface MeshMethods {
    /** Run a function of a module deployed on the callee: its address and a {@link CallInput} (the callee records the method as `rpc`). */
    'supervisor.call': { params: { deploymentId: string; module: string; fn: string } & Omit<CallInput, 'method'>; result: CallOutcome };
    /** The callee's request history. */
    'supervisor.history': { params: HistoryQuery; result: HistoryEntry[] };
    /** Modules deployed on the callee. */
    'supervisor.deployed': { params: Record<string, never>; result: DeployedModule[] };
  }
}

/** Serve `supervisor` on `rpc`; returns the function that stops serving it. */
export function serveSupervisor(rpc: Rpc<MeshMethods>, supervisor: Supervisor): Unsubscribe {
  const offs = [
    rpc.handle('supervisor.call', (p) => {
      const input: CallInput = { method: 'rpc' };
      if (p.args !== undefined) input.args = p.args;
      if (p.files !== undefined) input.files = p.files;
      if (p.input !== undefined) input.input = p.input;
      if (typeof p.callId === 'string') input.callId = p.callId.slice(0, 64);
      return supervisor.call(p.deploymentId, p.module, p.fn, input);
    }),
    rpc.handle('supervisor.history', (q) => supervisor.history.query(q)),
    rpc.handle('supervisor.deployed', () => supervisor.deployed()),
  ];
  return () => offs.forEach((off) => off());
}
