/**
 * `wasi_ephemeral_nn`: wasi-nn preview 1 (the ABI lives in ../wasi-nn.ts), granted as
 * `wasi_ephemeral_nn.*` or one function at a time.
 * @module
 */
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
  create: (ctx) => createWasiNnImports({ memory: ctx.memory, bridge: ctx.bridge, file: ctx.file, warn: ctx.stderr }),
};
