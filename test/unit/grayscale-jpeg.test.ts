// The C grayscale module (modules/grayscale-c, published as "grayscale" 2.0.0): its
// JPEG decoder and PNG writer (modules/lib) run through grayscale_jpeg over a WASI
// directory, and its in-place ABI against the AssemblyScript grayscale module.
import { ConsoleStdout, File, type Inode, OpenFile, PreopenDirectory, WASI } from '@bjorn3/browser_wasi_shim';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { decode as decodeWithJpegJs } from 'jpeg-js';
import { FakeCamera } from '../../shared/adapters/fake-camera.ts';
import { type ChromaSubsampling, encodeJpeg } from '../../shared/media/jpeg-encoder.ts';

const MODULES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'modules');
const C_WASM = join(MODULES_DIR, 'grayscale-c', 'grayscale.wasm');
const AS_WASM = join(MODULES_DIR, 'grayscale', 'grayscale.wasm');

// Return codes of grayscale_jpeg (modules/lib/jpeg.h, modules/grayscale-c/grayscale.c).
const ERR_NOT_JPEG = -2;
const ERR_TRUNCATED = -3;
const ERR_PROGRESSIVE = -5;
const ERR_ARITHMETIC = -6;
const ERR_PRECISION = -7;
const ERR_READ_NOENT = -(1000 + 44);

/** round(0.299 R + 0.587 G + 0.114 B), halves up, as both grayscale modules compute it. */
const luma = (r: number, g: number, b: number): number => Math.floor((299 * r + 587 * g + 114 * b + 500) / 1000);

// ---------------------------------------------------------------- running the module

/** One instance of the C module over an in-memory WASI directory (preopened as fd 3, "."). */
class GrayscaleC {
  readonly files = new Map<string, Inode>();
  readonly stderr: string[] = [];
  readonly instance: WebAssembly.Instance;

  constructor() {
    const decoder = new TextDecoder();
    const wasi = new WASI([], [], [
      new OpenFile(new File([])),
      new ConsoleStdout(() => undefined),
      new ConsoleStdout((bytes) => this.stderr.push(decoder.decode(bytes))),
      new PreopenDirectory('.', this.files),
    ], { debug: false });
    const module = new WebAssembly.Module(readFileSync(C_WASM));
    this.instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi.wasiImport as unknown as WebAssembly.ModuleImports });
    wasi.initialize(this.instance as unknown as { exports: { memory: WebAssembly.Memory; _initialize?: () => unknown } });
  }

  /** Put `jpeg` (or nothing) in image.jpeg, drop any old gray.png, call grayscale_jpeg. */
  run(jpeg: Uint8Array | null): { result: number; png: Uint8Array | undefined } {
    this.files.delete('gray.png');
    if (jpeg) this.files.set('image.jpeg', new File(jpeg));
    else this.files.delete('image.jpeg');
    this.stderr.length = 0;
    const result = (this.instance.exports['grayscale_jpeg'] as () => number)();
    const png = this.files.get('gray.png');
    return { result, png: png instanceof File ? png.data : undefined };
  }
}

/** Run grayscale_jpeg on a fresh instance, expect success, and return the decoded PNG. */
function grayOf(jpeg: Uint8Array): Png {
  const { result, png } = new GrayscaleC().run(jpeg);
  expect(png).toBeDefined();
  const image = readPng(png!);
  expect(result).toBe(image.width * image.height);
  return image;
}

// ---------------------------------------------------------------- reading the PNG

interface Png {
  width: number;
  height: number;
  /** One byte per pixel, rows top to bottom. */
  gray: Uint8Array;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Check the file's structure (signature, chunk order, every CRC, IHDR fields) and return its pixels. */
function readPng(file: Uint8Array): Png {
  expect(Array.from(file.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const chunks: { type: string; data: Uint8Array }[] = [];
  let pos = 8;
  while (pos < file.length) {
    expect(pos + 12).toBeLessThanOrEqual(file.length);
    const length = view.getUint32(pos);
    expect(pos + 12 + length).toBeLessThanOrEqual(file.length);
    const typeAndData = file.subarray(pos + 4, pos + 8 + length);
    expect(view.getUint32(pos + 8 + length), `CRC of chunk at ${pos}`).toBe(crc32(typeAndData));
    chunks.push({ type: String.fromCharCode(...typeAndData.subarray(0, 4)), data: typeAndData.subarray(4) });
    pos += 12 + length;
  }
  expect(pos).toBe(file.length);
  expect(chunks[0]!.type).toBe('IHDR');
  expect(chunks.at(-1)!.type).toBe('IEND');
  expect(chunks.at(-1)!.data.length).toBe(0);
  const ihdr = chunks[0]!.data;
  expect(ihdr.length).toBe(13);
  const header = new DataView(ihdr.buffer, ihdr.byteOffset, 13);
  const width = header.getUint32(0);
  const height = header.getUint32(4);
  // bit depth 8, colour type 0 (gray), deflate, filter method 0, no interlace
  expect(Array.from(ihdr.subarray(8))).toEqual([8, 0, 0, 0, 0]);
  const idat = chunks.filter((c) => c.type === 'IDAT');
  expect(idat.length).toBeGreaterThan(0);
  // inflateSync checks the zlib header and the Adler-32 trailer.
  const raw = new Uint8Array(inflateSync(Buffer.concat(idat.map((c) => c.data))));
  expect(raw.length).toBe(height * (width + 1));
  const gray = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width + 1)], `filter byte of row ${y}`).toBe(0);
    gray.set(raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)), y * width);
  }
  return { width, height, gray };
}

// ---------------------------------------------------------------- test images

/**
 * Smooth waves, a triangle-wave ramp and a box of sharp 8x8 blue checks, so the
 * image has both the flat areas JPEG keeps well and the edges it blurs.
 */
function pattern(width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const t = (x * 5 + y * 3) % 510;
      const inBox = x >= width / 4 && x < (3 * width) / 4 && y >= height / 4 && y < (3 * height) / 4;
      rgb[o] = Math.round(128 + 100 * Math.sin(x / 9 + y / 23));
      rgb[o + 1] = t < 256 ? t : 509 - t;
      rgb[o + 2] = inBox ? (((x >> 3) + (y >> 3)) % 2 ? 220 : 30) : (x * 2) & 255;
    }
  }
  return rgb;
}

function lumaOf(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = luma(rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!);
  return out;
}

function errors(actual: Uint8Array, expected: Uint8Array): { max: number; mean: number } {
  expect(actual.length).toBe(expected.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!);
    sum += e;
    if (e > max) max = e;
  }
  return { max, mean: sum / actual.length };
}

/** Offset of the first marker `code` (FF code) in a JPEG's headers. */
function markerAt(jpeg: Uint8Array, code: number): number {
  for (let i = 2; i + 1 < jpeg.length; i++) if (jpeg[i] === 0xff && jpeg[i + 1] === code) return i;
  throw new Error(`no FF${code.toString(16)} marker`);
}

const fromBase64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'base64'));

/**
 * Files from another encoder (libjpeg-turbo 2.1.5's cjpeg) for what encodeJpeg never
 * writes, all of pattern(48, 40) written as a PPM:
 *   cjpeg -quality 90 -sample 2x1 -restart 2B -optimize   4:2:2, RST every 2 MCUs, own Huffman tables
 *   cjpeg -quality 90 -grayscale -restart 1               1 component, RST every MCU row
 *   cjpeg -quality 90 -sample 2x2 -scans <3 scans>        4:2:0, one non-interleaved scan per component
 *   cjpeg -quality 90 -sample 2x2 -progressive            progressive (unsupported)
 */
const CJPEG = {
  restart422: fromBase64(`
/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMU
FRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU
FBQUFBQUFBT/wAARCAAoADADASEAAhEBAxEB/8QAGgABAAIDAQAAAAAAAAAAAAAABgUHAwQIAv/EACYQAAAFBAIBBAMAAAAAAAAA
AAABAgMSBAURIQYxIjNRotETUsH/xAAZAQADAQEBAAAAAAAAAAAAAAAGBwgFCQT/xAAsEQAABQMCBAQHAAAAAAAAAAAAAQIEEQMG
EgUTByExURUyQcEUgYKDsbPC/90ABAAC/9oADAMBAAIRAxEAPwDmXhNlilvxF0cetsEJ0Ec/rSoxaVI9uhIYU1NFJaGY2h5mypMT
VxAfYoUUj//Q3qOmmstBxxq2TWnQTq6mKBH2u191wY5Z4haIoR4i07RQwbLQFnNXJY7Euam03Mf/0XBcfokl6HyV9gjFRn2Au/tI
Y6B8L4bTwzznmo5jCPMZ9z6DNvjUlVdwlnMBeuztMLY/E3GWc7M/YMbPTlSMEoywoyGNdTagw1Wq0bJxQWMFJn1Skz5nJ9TEaHUU
6cJn1P3H/9Ijxi1wQnQtrhVLFFTr9P6E9YtTK5m31/rUKluSvtMViLW1oOmqeSi0D/hSqCffb/sQDxNfSuJ7+w//07E43QFI1GWi
wFBO7wXQnZiedNPz/IjHSqRuX8ij7Hb4IToJ2WIpAsmpKx1Xul1tt1D/1LPVdqIz9b4K+gfoaBS1lhIXPEHW2OvJa+G1M8M55GUT
hHmIux9BNl3OVpq1CX6h/c6tg2mEMrkZZloy9hoNu5MZutvKGo6rWdNlZIVjBwZdEpLoZEfUgP2OzUuok1Fzn3H/1Z220cEFoShN
YIR/RVKg172eYUVFI9Ns5UWhN29gmUTUXQIqauREOd11ud5waS7j/9a0HKiSuxkadCHbJgiCMsJjktJwP//Z`),
  grayRestart: fromBase64(`
/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMU
FRUVDA8XGBYUGBIUFRT/wAALCAAoADABAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUF
BAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVW
V1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi
4+Tl5ufo6erx8vP09fb3+Pn6/90ABAAG/9oACAEBAAA/APmXwTou1Y/lr2jw9puxF4rsLa22qOKmMVWrO23uOK7jw1pm914r/9Dx
/wAIaRtRPlr1PSLHZGOK9FHh+yUf6j/x5v8AGuR2sT1rr30eKB4PKj27s55J9K7HR7cWkAYjDEV//9HkfDGl7EXivWvBVrtS54/u
f1rLeLiu6it9zDiqPhuwG4sRwMV1Al5wOlf/0o9D0/Yi8V08MG1a6xtWsif9d/443+Fc/Y2DO4wtd/qd3AYoEhfcRndwR6VQjlya
/9Pd02z2IOK1BFgU6OHLDitvT4BCm9h0p0lxubrUkUtf/9k=`),
  multiScan: fromBase64(`
/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMU
FRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU
FBQUFBQUFBT/wAARCAAoADADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUF
BAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVW
V1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi
4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/APmXwTou1Y/lr2jw9puxF4rsLa22qOKmMVWrO23uOK7jw1pm914r5Z8IaRtRPlr1
PSLHZGOK9FHh+yUf6j/x5v8AGuR2sT1rr30eKB4PKj27s55J9K7HR7cWkAYjDEV8z+GNL2IvFeteCrXalzx/c/rWW8XFd1Fb7mHF
UfDdgNxYjgYrqBLzgdK8P0PT9iLxXTwwbVrrG1ayJ/13/jjf4Vz9jYM7jC13+p3cBigSF9xGd3BHpVCOXJrz3TbPYg4rUEWBTo4c
sOK29PgEKb2HSnSXG5utSRS1/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAEC
AxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVm
Z2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq
8vP09fb3+Pn6/9oACAECEQA/APwHGYvnmfT53kWK4YdJ42UZe05rcrb+G173Ue6tuGbYarlOJngqrTlG217apPql37HxuQ57/Y2a
0sw5Ofk5tL2veLjvZ977H6rhMxwvACl9Tqxxvt9+WSjycm17Opfm532+Hr0+Cr4GngMTLDUayqxja0lazuk+je17bvY/LqMm5H0V
NuyR9Vhkkkf/2gAIAQMRAD8A/s2VVYbD3P5H484ijUjOMHsfw3j8Y8fiPd6s/wBZuJsaqeElC9j/ADy4+ziWOqST9236/cfmnDOD
nmWKVWUd2f6G8c4qrClJJn+ePE9epVxTUn1P1vgDCUnKLaP/2Q==`),
  progressive: fromBase64(`
/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMU
FRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU
FBQUFBQUFBT/wgARCAAoADADASIAAhEBAxEB/8QAGwAAAQUBAQAAAAAAAAAAAAAABQABAgQGAwf/xAAYAQADAQEAAAAAAAAAAAAA
AAAFBggHAP/aAAwDAQACEAMQAAAB8y2gjUoGzdpmhBPI5HOBnsN8z1ocmGrPkdiPa55tlHrgFnPWkleh3vJEZ4eSRVt//8QAHhAA
AgMBAAIDAAAAAAAAAAAAAAIBAwQREBMSFCH/2gAIAQEAAQUCxUmesVTgimasyVFSfn108emIKV+MZqjEpwhTMh0orIg9qCIWNHIk
rQ4RBXHCWIk//8QAHhEAAgMAAgMBAAAAAAAAAAAAAQMAAgUEEhETIUH/2gAIAQMBAT8BNvWub2iLAgR7vez5NN3VRE3+YX2P5MxJ
5LexE3G2FTNO9rN+zAVXyJ//xAAmEQAABgEDAgcAAAAAAAAAAAAAAQIDBBESBRMxFCFBUWGRkqGx/9oACAECAQE/AXnbMTYLumY7
xkeV8ensJbaojhsq5IQJ3RykyKur/KDUhrQL2VE9n5HVV8ub+gthLDhtoXkReIQfcJDY/8QAGhAAAQUBAAAAAAAAAAAAAAAAAQIQ
ETAxIP/aAAgBAQAGPwIUYwgOrvWEUf/EAB4QAAMAAgEFAAAAAAAAAAAAAAABERAhMUFRgeHx/9oACAEBAAE/IZrQikQWFGVaJpaJ
iHuyMbOpTZ9SSRFeAxRm24QSJofyse3wTr3vgksNpHWUeD//2gAMAwEAAgADAAAAEBQyxzB/IAf/xAAbEQEBAAIDAQAAAAAAAAAA
AAABABExQWGRwf/aAAgBAwEBPxAc0gupu4w5XEAOn3yCbjFwzoXM9Ev/xAAbEQEBAAMBAQEAAAAAAAAAAAABEQAxUUEhcf/aAAgB
AgEBPxDHdeoKXxbTom8W8Yas+g+h3mfj3WWraPbrDelw47Gvrz9eE0kgkaD4urNusRwmBhAM/8QAHRAAAwACAgMAAAAAAAAAAAAA
AAERITEQ8EFRof/aAAgBAQABPxAA1YmYGY+DXuNpWBJdn0o9nm+Llv0IWyjI1Y1PumMkYE0ywoLOLRo3CMvq+CXA/eldGvRVkPAp
RRMCY2jyHH//2Q==`),
};

// ---------------------------------------------------------------- tests

describe('grayscale-c: module', () => {
  it('exports both ABIs and imports only the WASI calls it needs', () => {
    const module = new WebAssembly.Module(readFileSync(C_WASM));
    expect(WebAssembly.Module.exports(module).map((e) => e.name).sort())
      .toEqual(['_initialize', 'convert2Grayscale', 'get_img_ptr', 'grayscale_jpeg', 'memory']);
    expect(WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`).sort()).toEqual([
      'wasi_snapshot_preview1.fd_close', 'wasi_snapshot_preview1.fd_read',
      'wasi_snapshot_preview1.fd_write', 'wasi_snapshot_preview1.path_open',
    ]);
    const description = JSON.parse(readFileSync(join(MODULES_DIR, 'grayscale-c', 'description.json'), 'utf8')) as {
      name: string; version: string; functions: Record<string, { mounts: unknown[]; pointer?: string }>;
    };
    expect([description.name, description.version]).toEqual(['grayscale', '2.0.0']);
    expect(description.functions['grayscale_jpeg']!.mounts).toEqual([
      { name: 'image.jpeg', stage: 'execution', mediaType: 'image/jpeg' },
      { name: 'gray.png', stage: 'output', mediaType: 'image/png' },
    ]);
    expect(description.functions['convert2Grayscale']!.pointer).toBe('get_img_ptr');
  });
});

describe('grayscale-c: grayscale_jpeg', () => {
  const WIDTH = 123; // neither a multiple of 8 nor of 16: partial MCUs on both edges
  const HEIGHT = 77;
  const rgb = pattern(WIDTH, HEIGHT);
  const expected = lumaOf(rgb);

  // |decoded gray - luma of the original| measured at quality 90: max 4, mean 0.44 for
  // 4:4:4; max 5, mean 0.44 for 4:2:0. Gray only loses what quantization takes from Y
  // (plus rounding in the colour conversions); chroma subsampling hardly shows in it.
  // The bounds sit one step above the measurements.
  it.each<[ChromaSubsampling, number]>([['4:4:4', 5], ['4:2:0', 6]])('decodes %s to the luma of the original (max error %d)', (subsampling, bound) => {
    const image = grayOf(encodeJpeg(rgb, WIDTH, HEIGHT, 90, subsampling));
    expect([image.width, image.height]).toEqual([WIDTH, HEIGHT]);
    const { max, mean } = errors(image.gray, expected);
    expect(max).toBeLessThanOrEqual(bound);
    expect(mean).toBeLessThan(0.6);
  });

  // jpeg-js truncates where this decoder rounds (it is about 0.4 darker on average than
  // the original), so the two differ by up to 2 (4:4:4) and 4 (4:2:0, other upsampling).
  it.each<[ChromaSubsampling, number]>([['4:4:4', 3], ['4:2:0', 5]])('agrees with an independent decoder (jpeg-js) on %s within %d', (subsampling, bound) => {
    const jpeg = encodeJpeg(rgb, WIDTH, HEIGHT, 90, subsampling);
    const reference = decodeWithJpegJs(jpeg, { useTArray: true, formatAsRGBA: false });
    const { max, mean } = errors(grayOf(jpeg).gray, lumaOf(reference.data));
    expect(max).toBeLessThanOrEqual(bound);
    expect(mean).toBeLessThan(0.7);
  });

  it('decodes a 1x1 image and quality 100 almost exactly', () => {
    const dot = grayOf(encodeJpeg(new Uint8Array([200, 100, 50]), 1, 1, 100, '4:2:0'));
    expect([dot.width, dot.height]).toEqual([1, 1]);
    expect(Math.abs(dot.gray[0]! - luma(200, 100, 50))).toBeLessThanOrEqual(1);
    // Measured max error 1 at quality 100, 4:4:4.
    const { max } = errors(grayOf(encodeJpeg(rgb, WIDTH, HEIGHT, 100, '4:4:4')).gray, expected);
    expect(max).toBeLessThanOrEqual(2);
  });

  it('decodes a fake-camera frame at the camera resolution', () => {
    const camera = new FakeCamera({ seed: 7 });
    const frame = camera.render(0);
    const image = grayOf(camera.capture());
    expect([image.width, image.height]).toEqual([camera.width, camera.height]);
    expect(image.gray.length).toBe(320 * 240);
    // Colour bars, hard black-and-white counter blocks and the square's edges at quality
    // 85, 4:2:0: measured max 23 (ringing at the counter's edges), mean 0.19.
    const { max, mean } = errors(image.gray, lumaOf(frame.rgb));
    expect(max).toBeLessThanOrEqual(26);
    expect(mean).toBeLessThan(0.3);
  });

  it('decodes files of another encoder: 4:2:2 with restarts, gray with restarts, one scan per component', () => {
    const expected48 = lumaOf(pattern(48, 40));
    for (const [name, jpeg] of [['restart422', CJPEG.restart422], ['grayRestart', CJPEG.grayRestart], ['multiScan', CJPEG.multiScan]] as const) {
      const image = grayOf(jpeg);
      expect([image.width, image.height], name).toEqual([48, 40]);
      // Measured: max 5 and mean 0.44 for each.
      const { max, mean } = errors(image.gray, expected48);
      expect(max, name).toBeLessThanOrEqual(6);
      expect(mean, name).toBeLessThan(0.6);
    }
  });

  it('returns a negative code, not a trap, for truncated and unsupported input, and keeps working', () => {
    const gray = new GrayscaleC();
    const jpeg = encodeJpeg(rgb, WIDTH, HEIGHT, 90, '4:2:0');
    const sos = markerAt(jpeg, 0xda);

    const half = gray.run(jpeg.subarray(0, jpeg.length >> 1));
    expect(half.result).toBe(ERR_TRUNCATED);
    expect(half.png).toBeUndefined();
    expect(gray.stderr.join('')).toMatch(/grayscale_jpeg: cannot decode image\.jpeg: truncated/);
    // Cuts inside the headers, just after SOS, deep in the scan, and before EOI's last byte.
    for (const length of [1, 3, 20, sos - 3, sos + 14, sos + 100, jpeg.length - 300, jpeg.length - 3]) {
      expect(gray.run(jpeg.subarray(0, length)).result, `cut at ${length}`).toBe(ERR_TRUNCATED);
    }

    const patched = (offset: number, value: number): Uint8Array => {
      const copy = jpeg.slice();
      copy[offset] = value;
      return copy;
    };
    const sof = markerAt(jpeg, 0xc0);
    expect(gray.run(patched(sof + 1, 0xc2)).result).toBe(ERR_PROGRESSIVE);
    expect(gray.run(patched(sof + 1, 0xc9)).result).toBe(ERR_ARITHMETIC);
    expect(gray.run(patched(sof + 4, 12)).result).toBe(ERR_PRECISION);
    expect(gray.run(CJPEG.progressive).result).toBe(ERR_PROGRESSIVE);
    expect(gray.stderr.join('')).toMatch(/progressive JPEG is not supported/);
    expect(gray.run(new TextEncoder().encode('not a jpeg')).result).toBe(ERR_NOT_JPEG);
    expect(gray.run(new Uint8Array(0)).result).toBe(ERR_NOT_JPEG);
    expect(gray.run(null).result).toBe(ERR_READ_NOENT);
    expect(gray.stderr.join('')).toMatch(/cannot read image\.jpeg: WASI errno 44/);

    // Garbage in the entropy-coded data decodes to something or fails; it never traps.
    let state = 99;
    for (let i = 0; i < 20; i++) {
      const copy = jpeg.slice();
      for (let k = 0; k < 4; k++) {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        copy[sos + 20 + (state % (jpeg.length - sos - 24))] = state >>> 24;
      }
      const { result } = gray.run(copy);
      expect(result === WIDTH * HEIGHT || result < 0, `result ${result}`).toBe(true);
    }

    // The same instance still converts a good file afterwards.
    const good = gray.run(jpeg);
    expect(good.result).toBe(WIDTH * HEIGHT);
    expect(readPng(good.png!).width).toBe(WIDTH);
  });
});

describe('grayscale-c: in-place ABI', () => {
  const PIXELS = 640 * 480;

  function convert(instance: WebAssembly.Instance, input: Uint8Array): Uint8Array {
    const ptr = (instance.exports['get_img_ptr'] as () => number)();
    expect((instance.exports['get_img_ptr'] as () => number)()).toBe(ptr);
    const memory = instance.exports['memory'] as WebAssembly.Memory;
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(ptr + PIXELS * 3);
    new Uint8Array(memory.buffer, ptr, input.length).set(input);
    (instance.exports['convert2Grayscale'] as () => void)();
    return new Uint8Array(memory.buffer, ptr, input.length).slice();
  }

  it('matches the AssemblyScript grayscale module byte for byte', () => {
    const input = new Uint8Array(PIXELS * 3);
    let seed = 2024;
    for (let i = 0; i < input.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      input[i] = seed >>> 24;
    }
    // Known values at the start, including 28.5 which rounds up.
    input.set([255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 250, 255, 255, 255, 0, 0, 0]);
    const reference = convert(new WebAssembly.Instance(new WebAssembly.Module(readFileSync(AS_WASM)), {}), input);
    const c = convert(new GrayscaleC().instance, input);
    expect(Array.from(c.subarray(0, 18))).toEqual([76, 76, 76, 150, 150, 150, 29, 29, 29, 29, 29, 29, 255, 255, 255, 0, 0, 0]);
    expect(Buffer.compare(Buffer.from(c), Buffer.from(reference))).toBe(0);
    for (let p = 0; p < PIXELS; p += 997) {
      const g = luma(input[3 * p]!, input[3 * p + 1]!, input[3 * p + 2]!);
      expect([c[3 * p], c[3 * p + 1], c[3 * p + 2]]).toEqual([g, g, g]);
    }
  });
});
