// grayscale — in-place RGB to grayscale conversion of a 640x480 image.
//
// get_img_ptr() returns the address of a 640 * 480 * 3 = 921600 byte buffer
// holding packed 8-bit RGB pixels, row by row.  The buffer is a Uint8Array
// created on the first call and kept alive by a global (so the instance also
// carries the garbage collector's and allocator's globals); later calls
// return the same address.
// The host writes the pixels there, calls convert2Grayscale(), and reads the
// buffer back.  convert2Grayscale() replaces each pixel's R, G and B with
//
//   gray = (299 * R + 587 * G + 114 * B + 500) / 1000   (integer division)
//
// which is round(0.299 R + 0.587 G + 0.114 B) with halves rounded up,
// computed exactly in integers.

const WIDTH: i32 = 640;
const HEIGHT: i32 = 480;
const CHANNELS: i32 = 3;
const IMAGE_BYTES: i32 = WIDTH * HEIGHT * CHANNELS;

let image: Uint8Array | null = null;

export function get_img_ptr(): usize {
  let buffer = image;
  if (buffer === null) {
    buffer = new Uint8Array(IMAGE_BYTES);
    image = buffer;
  }
  return buffer.dataStart;
}

export function convert2Grayscale(): void {
  const base = get_img_ptr();
  const end = base + <usize>IMAGE_BYTES;
  for (let p = base; p < end; p += <usize>CHANNELS) {
    const r = <u32>load<u8>(p);
    const g = <u32>load<u8>(p, 1);
    const b = <u32>load<u8>(p, 2);
    const gray = <u8>((299 * r + 587 * g + 114 * b + 500) / 1000);
    store<u8>(p, gray);
    store<u8>(p, gray, 1);
    store<u8>(p, gray, 2);
  }
}
