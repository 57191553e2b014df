/** WAT text to a wasm binary through wabt, for unit tests that need a small real module. */
import wabtInit from 'wabt';

let wabt: Awaited<ReturnType<typeof wabtInit>> | null = null;

/** The binary of `source` (throws on a syntax or validation error). */
export async function wat(source: string, features: Record<string, boolean> = {}): Promise<Uint8Array> {
  wabt ??= await wabtInit();
  const parsed = wabt.parseWat('test.wat', source, features);
  try {
    parsed.resolveNames();
    parsed.validate();
    return new Uint8Array(parsed.toBinary({ log: false }).buffer);
  } finally {
    parsed.destroy();
  }
}
