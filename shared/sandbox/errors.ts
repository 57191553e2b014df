/**
 * Named errors of the sandbox and supervisor.
 * @module
 */
import { defineError } from '../errors.ts';

/** The module imports something no host of this peer implements. */
export const ImportNotSupportedError = defineError('ERR_IMPORT_NOT_SUPPORTED', 'ImportNotSupportedError');
/** The module imports a host function this deployment was not granted. */
export const ImportDeniedError = defineError('ERR_IMPORT_DENIED', 'ImportDeniedError');
/** The module binary is larger than the limit. */
export const ModuleTooLargeError = defineError('ERR_MODULE_TOO_LARGE', 'ModuleTooLargeError');
/**
 * A module declares more than one instance may have: initial memory pages, table
 * elements, globals, data segments or their bytes (data: `{ limit, value, max }`, the
 * limit named as in SandboxLimits). Refused at load, before it is compiled.
 */
export const ModuleBudgetError = defineError('ERR_MODULE_BUDGET', 'ModuleBudgetError');
/**
 * Loading the module would take this peer past its memory budget across all instances
 * (data: `{ need, used, budget }` in bytes). Refused at load; nothing else is affected.
 */
export const MemoryBudgetError = defineError('ERR_MEMORY_BUDGET', 'MemoryBudgetError');
/** The call ran past its time limit; its worker was stopped. */
export const CallTimeoutError = defineError('ERR_CALL_TIMEOUT', 'CallTimeoutError');
/** The module trapped (unreachable, out-of-bounds access, stack overflow, …). */
export const WasmTrapError = defineError('ERR_WASM_TRAP', 'WasmTrapError');
/** The module called `proc_exit`. */
export const WasmExitError = defineError('ERR_WASM_EXIT', 'WasmExitError');
/** The instance could not get the memory it asked for within its limit. */
export const MemoryLimitExceededError = defineError('ERR_MEMORY_EXHAUSTED', 'MemoryLimitExceededError');
/** No export of that name, or not a function. */
export const FunctionNotFoundError = defineError('ERR_FUNCTION_NOT_FOUND', 'FunctionNotFoundError');
/** A snapshot of one module offered to an instance of another. */
export const SnapshotMismatchError = defineError('ERR_SNAPSHOT_MISMATCH', 'SnapshotMismatchError');
/** Snapshot bytes that do not decode, or a snapshot the instance cannot take (data: `{ reason }` when known). */
export const SnapshotInvalidError = defineError('ERR_SNAPSHOT_INVALID', 'SnapshotInvalidError');
/** The instance was closed. */
export const InstanceClosedError = defineError('ERR_INSTANCE_CLOSED', 'InstanceClosedError');
/** A host function failed while the module waited for it. */
export const HostCallError = defineError('ERR_HOST_CALL', 'HostCallError');
/**
 * The module imports a host function that must answer from the host thread (camera,
 * sensors, rpc, pub/sub, wasi-nn, …), and this page has no SharedArrayBuffer to block the
 * module's worker on it (not cross-origin isolated, or an engine without it). Refused at
 * load (data: `{ import }`).
 */
export const SharedMemoryRequiredError = defineError('ERR_NO_SHARED_MEMORY', 'SharedMemoryRequiredError');
/** The module could not be compiled or instantiated. */
export const ModuleLoadError = defineError('ERR_MODULE_LOAD', 'ModuleLoadError');
/**
 * Runtime linking failed at load (data: `{ import }` or `{ cycle }`): an import names a
 * provider module that lacks that export or exports it with another signature, the
 * providers import each other in a cycle, or two providers (or a provider and a host
 * module) share a name.
 */
export const LinkFailedError = defineError('ERR_LINK_FAILED', 'LinkFailedError');
/** No deployment (or no module of that name in it) on this peer. */
export const DeploymentNotFoundError = defineError('ERR_DEPLOYMENT_NOT_FOUND', 'DeploymentNotFoundError');
