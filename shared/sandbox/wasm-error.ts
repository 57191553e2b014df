/**
 * What a module threw, as a named error a caller on any peer can tell apart.
 * @module
 */
import { WASIProcExit } from '@bjorn3/browser_wasi_shim';
import { type ErrorInfo, MeshError, toErrorInfo } from '../errors.ts';
import { MemoryLimitExceededError, ModuleLoadError, WasmExitError, WasmTrapError } from './errors.ts';

/** Map whatever a module threw in `where` (a function name, `instantiate`, …) to a named error. */
export function wasmError(error: unknown, where: string): ErrorInfo {
  if (error instanceof MeshError) return error.toInfo();
  if (error instanceof WASIProcExit) return new WasmExitError(`module exited with code ${error.code} in ${where}`, { exitCode: error.code }).toInfo();
  if (error instanceof WebAssembly.RuntimeError) return new WasmTrapError(`module trapped in ${where}: ${error.message}`).toInfo();
  // Engines report a wasm stack overflow as a RangeError (V8, JavaScriptCore) or an
  // InternalError "too much recursion" (SpiderMonkey), not a RuntimeError: a trap all the same.
  if ((error instanceof RangeError && /call stack/i.test(error.message)) || (error instanceof Error && error.name === 'InternalError' && /recursion/i.test(error.message))) return new WasmTrapError(`module trapped in ${where}: stack overflow (${error.message})`, { reason: 'stack overflow' }).toInfo();
  if (error instanceof RangeError) return new MemoryLimitExceededError(`${where}: ${error.message}`).toInfo();
  if (error instanceof WebAssembly.LinkError || error instanceof WebAssembly.CompileError) return new ModuleLoadError(`${where}: ${error.message}`).toInfo();
  return toErrorInfo(error);
}
