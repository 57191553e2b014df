/**
 * The typed method table of the mesh. Each feature adds its methods by declaration
 * merging into {@link MeshMethods}:
 *
 * ```ts
 * declare module '../rpc/methods.ts' {
 *   interface MeshMethods { 'supervisor.call': { params: CallParams; result: CallResult } }
 * }
 * ```
 * @module
 */
import type { DeviceDescription } from '../registry/schema.ts';

/** Shape of one method's types. */
export interface MethodSpec {
  params: unknown;
  result: unknown;
}

/** Methods every peer serves. */
export interface MeshMethods {
  /** The peer's own device description. */
  'peer.describe': { params: Record<string, never>; result: DeviceDescription };
  /** Liveness probe; echoes `sentAt`. */
  'peer.ping': { params: { sentAt: number }; result: { sentAt: number; peer: string } };
  /** Whether the peer stores a blob. */
  'blob.has': { params: { hash: string }; result: { has: boolean; size: number } };
  /**
   * A range of a stored blob (a resumable transfer asks range by range). With `stream`
   * (a stream the caller opened, see mesh/bulk-streams.ts) a directly linked callee sends
   * the bytes as bulk pieces of that stream ahead of its answer, which then says how many
   * it sent (`streamed`) instead of carrying them; otherwise, and from a peer of an
   * earlier build, the answer carries `bytes`.
   */
  'blob.read': {
    params: { hash: string; offset: number; length: number; stream?: number };
    result: { bytes?: Uint8Array; size: number; streamed?: number };
  };
}

/** Method names of a table. */
export type MethodName<M> = keyof M & string;
/** Params of a method. */
export type ParamsOf<M, K extends keyof M> = M[K] extends MethodSpec ? M[K]['params'] : never;
/** Result of a method. */
export type ResultOf<M, K extends keyof M> = M[K] extends MethodSpec ? M[K]['result'] : never;
