/**
 * A fake camera for headless peers and tests: the camera service (`captureImage`) of a
 * peer without camera hardware (Node, headless Chromium, the simulator). Modules that
 * import `camera.takeImageStaticSize` expect the bytes of a real JPEG, so it renders a
 * deterministic synthetic scene and encodes it with shared/media/jpeg-encoder.ts.
 * @module
 */
import { type ChromaSubsampling, checkDimension, checkSettings, encodeJpeg } from '../media/jpeg-encoder.ts';

/** One rendered picture: packed 8-bit RGB, row-major, `width * height * 3` bytes. */
export interface CameraFrame {
  /** Packed RGB samples, 3 bytes per pixel, rows top to bottom. */
  rgb: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Which frame of the camera's sequence this is, counting from 0. */
  index: number;
}

/** Settings of a {@link FakeCamera}; every field is optional. */
export interface FakeCameraOptions {
  /** Picture width in pixels, 1 to 65535; 320 unless given. */
  width?: number;
  /** Picture height in pixels, 1 to 65535; 240 unless given. */
  height?: number;
  /** Varies the scene (bar order, square path and colours); the same seed gives the same frames. Only its low 32 bits count; 0 unless given. */
  seed?: number;
  /** JPEG quality 1 to 100 for {@link FakeCamera.capture}; 85 unless given. */
  quality?: number;
  /** Chroma subsampling for {@link FakeCamera.capture}; `'4:2:0'` unless given. */
  subsampling?: ChromaSubsampling;
}

/** A 32-bit integer hash, so that each scene parameter is a pure function of (seed, which parameter). */
function hash32(seed: number, salt: number): number {
  let x = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(salt + 1, 0x85ebca77)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Position on a path that bounces between 0 and `span`, given an unbounded distance travelled. */
function bounce(distance: number, span: number): number {
  if (span <= 0) return 0;
  const period = 2 * span;
  const p = ((distance % period) + period) % period;
  return p <= span ? p : period - p;
}

/** Colour bars, 75% amplitude like a broadcast test card: white, yellow, cyan, green, magenta, red, blue, black. */
const BARS: readonly (readonly [number, number, number])[] = [
  [191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0],
  [191, 0, 191], [191, 0, 0], [0, 0, 191], [16, 16, 16],
];

/** Bits of the frame counter drawn into every picture, least significant on the left. */
const COUNTER_BITS = 16;

/**
 * A camera that needs no hardware: each capture renders the next frame of a synthetic
 * scene and returns it as a real baseline JPEG. The scene has colour bars, a grey ramp
 * that scrolls, a gradient square that bounces around and the frame number drawn as a
 * row of black and white blocks, so successive pictures differ visibly while frame n of
 * a given seed and size is always the same bytes.
 */
export class FakeCamera {
  /** Picture width in pixels. */
  readonly width: number;
  /** Picture height in pixels. */
  readonly height: number;
  /** The seed the scene derives from. */
  readonly seed: number;
  /** JPEG quality used by {@link FakeCamera.capture}. */
  readonly quality: number;
  /** Chroma subsampling used by {@link FakeCamera.capture}. */
  readonly subsampling: ChromaSubsampling;
  #next = 0;

  constructor(options: FakeCameraOptions = {}) {
    this.width = options.width ?? 320;
    this.height = options.height ?? 240;
    checkDimension('width', this.width);
    checkDimension('height', this.height);
    this.seed = options.seed ?? 0;
    this.quality = options.quality ?? 85;
    this.subsampling = options.subsampling ?? '4:2:0';
    // Fail at construction rather than on the first capture, which may be deep inside a module call.
    checkSettings(this.quality, this.subsampling);
  }

  /** How many frames {@link FakeCamera.capture} and {@link FakeCamera.frame} have produced so far. */
  get frameCount(): number {
    return this.#next;
  }

  /** Render the next frame and return it as JPEG bytes. */
  capture(): Uint8Array {
    const frame = this.frame();
    return encodeJpeg(frame.rgb, frame.width, frame.height, this.quality, this.subsampling);
  }

  /** Render the next frame as raw RGB, advancing the sequence as {@link FakeCamera.capture} does. */
  frame(): CameraFrame {
    return this.render(this.#next++);
  }

  /** Render frame `index` of this camera's sequence without moving the sequence on. */
  render(index: number): CameraFrame {
    if (!Number.isInteger(index) || index < 0) throw new RangeError(`frame index must be a non-negative integer, got ${index}`);
    const { width, height, seed } = this;
    const rgb = new Uint8Array(width * height * 3);

    const barsEnd = Math.max(1, Math.floor((height * 2) / 3));
    const barShift = hash32(seed, 0) % BARS.length;
    const side = Math.max(1, Math.floor(Math.min(width, height) / 4));
    const speedX = 2 + (hash32(seed, 1) % 5);
    const speedY = 1 + (hash32(seed, 2) % 4);
    const squareX = Math.round(bounce(hash32(seed, 3) % 1000 + index * speedX, width - side));
    const squareY = Math.round(bounce(hash32(seed, 4) % 1000 + index * speedY, height - side));
    const hue = hash32(seed, 5) % 256;
    const cell = Math.max(1, Math.floor(width / (COUNTER_BITS + 4)));
    const counterY = Math.min(cell, height - 1);

    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let r: number;
        let g: number;
        let b: number;
        const inSquare = x >= squareX && x < squareX + side && y >= squareY && y < squareY + side;
        const bit = Math.floor(x / cell) - 1;
        const inCounter = y >= counterY && y < counterY + cell && bit >= 0 && bit < COUNTER_BITS;
        if (inCounter) {
          r = g = b = (index >>> bit) & 1 ? 255 : 0;
        } else if (inSquare) {
          r = Math.floor(((x - squareX) * 255) / side);
          g = Math.floor(((y - squareY) * 255) / side);
          b = (hue + index * 8) & 0xff;
        } else if (y < barsEnd) {
          const bar = BARS[(Math.floor((x * BARS.length) / width) + barShift) % BARS.length]!;
          r = bar[0];
          g = bar[1];
          b = bar[2];
        } else {
          // The ramp scrolls one pixel per frame so that even a frame with the square parked somewhere else still differs.
          const level = Math.floor((((x + index) % width) * 255) / Math.max(1, width - 1));
          r = g = b = level;
        }
        const o = (y * width + x) * 3;
        rgb[o] = r;
        rgb[o + 1] = g;
        rgb[o + 2] = b;
      }
    }
    return { rgb, width, height, index };
  }
}
