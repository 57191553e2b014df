/**
 * `wasi_ephemeral_nn`: wasi-nn preview 1 (the ABI lives in ../wasi-nn.ts), granted as
 * `wasi_ephemeral_nn.*` or one function at a time.
 * @module
 */
import { none, out, ptr } from '../host-writes.ts';
import { createWasiNnImports } from '../wasi-nn.ts';
import type { HostCapability } from './host-import.ts';

/** `wasi_ephemeral_nn.*`: inference on the host's engine. */
export const wasiNn: HostCapability = {
  module: 'wasi_ephemeral_nn',
  functions: {
    load: 'nn',
    load_by_name: 'nn',
    init_execution_context: 'nn',
    set_input: 'nn',
    compute: 'nn',
    get_output: 'nn',
  },
  writesMemory: true,
  // Out-pointers only (graph and context handles, the written length) and get_output's buffer, up to its size.
  writes: {
    load: out([4, 4]),
    load_by_name: out([2, 4]),
    init_execution_context: out([1, 4]),
    set_input: none,
    compute: none,
    get_output: (a) => [
      [ptr(a, 2), ptr(a, 3)],
      [ptr(a, 4), 4],
    ],
  },
  create: (ctx) => createWasiNnImports({ memory: ctx.memory, bridge: ctx.bridge, file: ctx.file, warn: ctx.stderr }),
};
