/**
 * A sandbox for the simulator only: it instantiates modules synchronously on the calling
 * thread, so that loading and calling take no real time and a seeded run does not depend
 * on worker start-up. It cannot stop a runaway module and serves no host imports, which
 * is why it is not an adapter of the Sandbox port: the real ones (browser Workers, Node
 * worker_threads) pass the acceptance suite; this one only lets the simulator exercise
 * the orchestration state machine against real WebAssembly instantiation, traps included,
 * and a hot standby copy a counter kept in a global.
 */
import { sha256Hex } from '../../shared/bytes.ts';
import { SnapshotMismatchError, WasmTrapError } from '../../shared/sandbox/errors.ts';
import type { CallRequest, CallResult, InstanceSnapshot, LoadSpec, Sandbox, SandboxInstance, WasmValue } from '../../shared/ports/sandbox.ts';
import { parseModule } from '../../shared/wasm/binary.ts';

/**
 * Create the simulator's synchronous sandbox. `live`, when given, holds every instance
 * it loaded and has not closed: the hot-standby scenario reads which copies of the
 * state still exist after a kill. `ran`, when given, hears each call's value the moment
 * the instance returns it (the scenario notes the line of state the peer ran it under).
 */
export function createSimSandbox(live?: Set<WebAssembly.Instance>, ran?: (value: number | bigint | undefined, instance: WebAssembly.Instance) => void): Sandbox {
  return {
    async load(spec: LoadSpec): Promise<SandboxInstance> {
      const info = parseModule(spec.wasm);
      const moduleId = await sha256Hex(spec.wasm);
      let instance: WebAssembly.Instance;
      try {
        instance = new WebAssembly.Instance(new WebAssembly.Module(spec.wasm as Uint8Array<ArrayBuffer>), {});
      } catch (error) {
        throw new WasmTrapError(`instantiation failed: ${(error as Error).message}`);
      }
      live?.add(instance);
      return {
        moduleId,
        info,
        async call(request: CallRequest): Promise<CallResult> {
          const fn = instance.exports[request.fn] as ((...args: unknown[]) => unknown) | undefined;
          if (typeof fn !== 'function' || request.convention.kind !== 'scalar') throw new WasmTrapError(`cannot call ${request.fn} here`);
          const value = fn(...request.convention.args) as number | bigint | undefined;
          ran?.(value, instance);
          return { ...(value === undefined ? {} : { value }), files: {}, stdout: '', stderr: '' };
        },
        // The simulator's modules keep their state, if any, in exported mutable globals (no
        // memory): a snapshot holds those whole, which also makes it a valid delta.
        async snapshot(options?: { sinceLast?: boolean }): Promise<InstanceSnapshot> {
          const globals: Record<string, WasmValue> = {};
          for (const [name, value] of Object.entries(instance.exports)) {
            if (value instanceof WebAssembly.Global) globals[name] = value.value as WasmValue;
          }
          return { moduleId, pages: {}, memoryPages: 0, globals, files: {}, ...(options?.sinceLast ? { delta: true } : {}) };
        },
        async restore(snapshot: InstanceSnapshot): Promise<void> {
          if (snapshot.moduleId !== moduleId) throw new SnapshotMismatchError('snapshot of another module');
          for (const [name, value] of Object.entries(snapshot.globals)) {
            const global = instance.exports[name];
            if (global instanceof WebAssembly.Global) global.value = value;
          }
        },
        async close() {
          live?.delete(instance);
        },
      };
    },
    grantable: () => ['wasi_snapshot_preview1.*'],
    async close() {},
  };
}
