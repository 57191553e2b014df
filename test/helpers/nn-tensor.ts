/**
 * A wasi-nn preview 1 `tensor` struct written into a module's memory, as a module passes one
 * to `set_input`: `{dims ptr u32, ndims u32, type u8 (padded), data ptr u32, data len u32}`,
 * with its dims (u32 each) at `dimsAt`. The data bytes are the caller's to place.
 */
export function putTensor(view: DataView, at: number, t: { dimsAt: number; dims: number[]; type: number; dataAt: number; bytes: number }): void {
  t.dims.forEach((d, i) => view.setUint32(t.dimsAt + 4 * i, d, true));
  view.setUint32(at, t.dimsAt, true);
  view.setUint32(at + 4, t.dims.length, true);
  view.setUint8(at + 8, t.type);
  view.setUint32(at + 12, t.dataAt, true);
  view.setUint32(at + 16, t.bytes, true);
}
