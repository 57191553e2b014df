/**
 * The shapes a call takes on its way through a peer (docs/INTERNALS.md draws the path):
 * a {@link CallInput} from the caller, the sandbox's `CallRequest` and `CallResult`
 * (shared/ports/sandbox.ts), and a {@link CallOutcome} back to the caller. Each name
 * means one thing across shared/ and node-host/.
 * @module
 */

/** What a caller gives a call besides its address (deployment, module, function). */
export interface CallInput {
  /** Scalars by position, or by name (`param0`, …) as WasmIoT query strings give them. */
  args?: unknown[] | Record<string, unknown>;
  /** Execution-stage mounts: mount name → bytes. */
  files?: Record<string, Uint8Array>;
  /** The `bytes` input of pointer and in-place buffer functions. */
  input?: Uint8Array;
  /** HTTP method or `rpc`, for the history. */
  method?: string;
  /**
   * The caller's id of this call, the same when it retries it elsewhere: a hot standby
   * that already holds the call's effect answers it from there instead of running it
   * again (ADR 0038).
   */
  callId?: string;
}

/** An output file. */
export interface OutputFile {
  name: string;
  mediaType: string;
  bytes: Uint8Array;
}

/** What a call produced, as its caller sees it. */
export interface CallOutcome {
  requestId: string;
  deploymentId: string;
  moduleName: string;
  functionName: string;
  /** The scalar result as JSON (i64 beyond 2^53 as a decimal string), or null. */
  value: number | string | null;
  /** Output bytes of pointer / in-place functions. */
  bytes?: Uint8Array;
  files: OutputFile[];
  stdout: string;
  stderr: string;
  durationMs: number;
}
