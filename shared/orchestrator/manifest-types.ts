/**
 * The normalised manifest every accepted form (WasmIoT sequence, the older supervisor
 * form, graph) turns into. Pure data; parsing lives in `manifest.ts`.
 * @module
 */

/** One step: a function of a module, optionally pinned to a device. */
export interface StepSpec {
  /** Module id (sha256), name, or `name@version`. */
  module: string;
  /** The function to call. */
  func: string;
  /** Pinned device (peer id or device name), or null to let placement choose. */
  device: string | null;
  /** Indices of the steps that receive this step's output (fan-out when several). */
  next: number[];
}

/** Topics a module of the deployment may use (pub/sub). */
export interface TopicGrants {
  publish: string[];
  subscribe: string[];
}

/** Where the older supervisor form says a module's files are (HTTP URLs). */
export interface ModuleSources {
  binary?: string;
  description?: string;
  /** Data files: URL list (older form) or mount name → URL. */
  other: string[] | Record<string, string>;
}

/** A validated, normalised manifest. */
export interface Manifest {
  name: string;
  /** The form it was written in. */
  form: 'sequence' | 'supervisor' | 'graph';
  /** Steps in a deterministic order; step 0 is an entry. */
  steps: StepSpec[];
  /** Topic grants by module (as written in the steps). */
  topics: Record<string, TopicGrants>;
  /** Spread steps over different devices when possible. */
  antiAffinity: boolean;
  /** Engines allowed to host the deployment's steps; empty means any. */
  engines: Array<'browser' | 'chromium' | 'node'>;
  /**
   * Hot standbys per step (ADR 0038): warm copies on other devices, kept in sync after
   * every call, one of which takes over at once when the step's device dies. 0 to 3.
   */
  replicas: number;
  /** Older supervisor form: the deployment id it carried. */
  deploymentId?: string;
  /** Older supervisor form: module name → where its files are. */
  sources?: Record<string, ModuleSources>;
}
