/**
 * Call planning: what every call of one function of one module version needs (its
 * description, signature, mounts and calling convention), worked out once per version,
 * and the two conversions at the sandbox boundary — a {@link CallInput} into the
 * sandbox's `CallRequest`, the sandbox's `CallResult` into a {@link CallOutcome}.
 * @module
 */
import { InvalidParamsError } from '../errors.ts';
import type { CallConvention, CallRequest, CallResult } from '../ports/sandbox.ts';
import type { FuncType } from '../ports/wasm-module.ts';
import type { FunctionDescription } from '../registry/schema.ts';
import { FunctionNotFoundError } from '../sandbox/errors.ts';
import type { CallInput, CallOutcome, OutputFile } from './call-shapes.ts';
import { toJsonValue, toWasmArgs } from './params.ts';

/** What every call of one function of one module version needs, worked out once. */
export interface FunctionPlan {
  fn: FunctionDescription | undefined;
  /** Why it cannot be called (not described, or not exported): ERR_FUNCTION_NOT_FOUND's message. */
  missing?: string;
  type: FuncType;
  paramNames: string[];
  executionMounts: string[];
  outputs: string[];
  mediaTypes: Record<string, string>;
  /** It takes the call's `bytes` input (pointer or in-place buffer convention). */
  needsBytes: boolean;
}

/** What a module version offers planning: its description, its exports, and the plans made so far. */
export interface Plannable {
  description: { functions: Record<string, FunctionDescription> };
  instance: { info: { exports: { name: string; kind: string; type?: FuncType }[] } };
  plans: Map<string, FunctionPlan>;
}

/** The plan of `functionName` of a module version, made on first use and kept for described functions. */
export function planFunction(version: Plannable, moduleName: string, functionName: string): FunctionPlan {
  const known = version.plans.get(functionName);
  if (known) return known;
  const fn: FunctionDescription | undefined = Object.hasOwn(version.description.functions, functionName) ? version.description.functions[functionName] : undefined;
  const type = version.instance.info.exports.find((e) => e.name === functionName && e.kind === 'function')?.type;
  const plan: FunctionPlan = {
    fn,
    type: type ?? { params: [], results: [] },
    paramNames: fn ? fn.params.map((p) => p.name) : [],
    executionMounts: fn ? fn.mounts.filter((m) => m.stage === 'execution').map((m) => m.name) : [],
    outputs: fn ? fn.mounts.filter((m) => m.stage === 'output').map((m) => m.name) : [],
    mediaTypes: fn ? mediaTypes(fn) : {},
    needsBytes: fn ? fn.pointer !== undefined || fn.params.some((p) => p.type === 'bytes') : false,
  };
  if (!fn) plan.missing = `${moduleName} describes no function ${functionName}`;
  else if (!type) plan.missing = `${moduleName} exports no function ${functionName}`;
  // Only described functions are kept: a client naming endless others cannot grow it.
  if (fn) version.plans.set(functionName, plan);
  return plan;
}

/**
 * The sandbox request for one call of a planned function: ERR_FUNCTION_NOT_FOUND or
 * ERR_INVALID_PARAMS (a missing file or byte input) before anything runs.
 */
export function sandboxRequest(plan: FunctionPlan, functionName: string, input: CallInput, dataFiles: Record<string, Uint8Array>): CallRequest {
  if (plan.missing) throw new FunctionNotFoundError(plan.missing);
  const fn = plan.fn!;
  for (const name of plan.executionMounts) {
    if (!input.files?.[name]) throw new InvalidParamsError(`missing execution-stage file ${name}`, { mount: name });
  }
  // Only what the call needs: the request is copied to the worker on every call.
  const request: CallRequest = { fn: functionName, convention: convention(plan, input, dataFiles) };
  if (plan.executionMounts.length > 0) {
    const files = pick(input.files ?? {}, plan.executionMounts);
    if (Object.keys(files).length > 0) request.files = files;
  }
  if (plan.outputs.length > 0) request.outputs = plan.outputs;
  if (fn.stateful === false) request.fresh = true;
  return request;
}

/** Where a call ran, for its outcome. */
export interface CallSite {
  requestId: string;
  deploymentId: string;
  moduleName: string;
  functionName: string;
}

/** The outcome callers see of what the sandbox returned. */
export function callOutcome(site: CallSite, plan: FunctionPlan, r: CallResult, durationMs: number): CallOutcome {
  const files: OutputFile[] = [];
  for (const name in r.files) files.push({ name, mediaType: plan.mediaTypes[name] ?? 'application/octet-stream', bytes: r.files[name]! });
  const outcome: CallOutcome = {
    requestId: site.requestId, deploymentId: site.deploymentId, moduleName: site.moduleName, functionName: site.functionName,
    value: toJsonValue(r.value),
    files,
    stdout: r.stdout, stderr: r.stderr, durationMs,
  };
  if (r.bytes) outcome.bytes = r.bytes;
  return outcome;
}

function convention(plan: FunctionPlan, input: CallInput, dataFiles: Record<string, Uint8Array>): CallConvention {
  const fn = plan.fn!;
  if (fn.buffers) {
    const inputs = fn.buffers.map((name) => {
      const bytes = input.files?.[name] ?? dataFiles[name];
      if (!bytes) throw new InvalidParamsError(`missing file ${name} (this function takes it by pointer)`, { mount: name });
      return bytes;
    });
    return { kind: 'buffers', alloc: fn.alloc ?? 'alloc', inputs };
  }
  if (plan.needsBytes && !input.input) throw new InvalidParamsError('this function takes bytes: send them as the request body or a file');
  if (fn.pointer) return { kind: 'buffer', pointer: fn.pointer, input: input.input! };
  if (plan.needsBytes) return { kind: 'bytes', alloc: fn.alloc ?? 'alloc', input: input.input! };
  return { kind: 'scalar', args: toWasmArgs(plan.type, input.args ?? [], plan.paramNames) };
}

function pick(files: Record<string, Uint8Array>, names: string[]): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const n of names) if (files[n]) out[n] = files[n];
  return out;
}

function mediaTypes(fn: FunctionDescription): Record<string, string> {
  return Object.fromEntries(fn.mounts.filter((m) => m.mediaType).map((m) => [m.name, m.mediaType!]));
}
