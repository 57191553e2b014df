// The fake camera's JPEG encoder, checked against the file layout T.81 and JFIF require
// and against an independent decoder (jpeg-js), plus the camera's determinism.
import { expect } from 'chai';
import { decode } from 'jpeg-js';
import { FakeCamera } from '../../shared/adapters/fake-camera.ts';
import { type ChromaSubsampling, encodeJpeg } from '../../shared/media/jpeg-encoder.ts';

interface Segment {
  marker: number;
  payload: Uint8Array;
}

/** The marker segments from SOI up to and including SOS, and the entropy-coded bytes after it. */
function parse(jpeg: Uint8Array): { segments: Segment[]; scan: Uint8Array } {
  expect(jpeg[0]).to.equal(0xff);
  expect(jpeg[1]).to.equal(0xd8);
  const segments: Segment[] = [];
  let i = 2;
  for (;;) {
    expect(jpeg[i], `marker prefix at ${i}`).to.equal(0xff);
    const marker = jpeg[i + 1]!;
    const length = (jpeg[i + 2]! << 8) | jpeg[i + 3]!;
    segments.push({ marker, payload: jpeg.subarray(i + 4, i + 2 + length) });
    i += 2 + length;
    if (marker === 0xda) return { segments, scan: jpeg.subarray(i, jpeg.length - 2) };
  }
}

function segment(segments: Segment[], marker: number): Uint8Array {
  const found = segments.find((s) => s.marker === marker);
  expect(found, `segment FF${marker.toString(16).toUpperCase()}`).to.not.equal(undefined);
  return found!.payload;
}

/** Colours that change slowly at any image size, so the error measures the codec rather than subsampling of sharp edges. */
function smoothImage(width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      rgb[o] = Math.round(128 + 90 * Math.sin(x / 23 + y / 41));
      rgb[o + 1] = Math.round(128 + 90 * Math.cos(x / 31 - y / 19));
      rgb[o + 2] = Math.round(128 + 60 * Math.sin((x + y) / 29));
    }
  }
  return rgb;
}

function solidImage(width: number, height: number, colour: readonly [number, number, number]): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = colour[i % 3]!;
  return rgb;
}

/** Decode with jpeg-js and return the mean absolute error of each channel against `rgb`. */
function decodeError(jpeg: Uint8Array, rgb: Uint8Array, width: number, height: number): number[] {
  const decoded = decode(jpeg, { useTArray: true, formatAsRGBA: false });
  expect(decoded.width).to.equal(width);
  expect(decoded.height).to.equal(height);
  const sums = [0, 0, 0];
  for (let i = 0; i < width * height * 3; i++) sums[i % 3]! += Math.abs(decoded.data[i]! - rgb[i]!);
  return sums.map((s) => s / (width * height));
}

/** Annex K's code-length counts (the BITS lists) for DC luma, AC luma, DC chroma, AC chroma. */
const ANNEX_K_COUNTS: Record<string, number[]> = {
  '0/0': [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
  '1/0': [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
  '0/1': [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
  '1/1': [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
};

/** Table K.1 in zig-zag order, as DQT carries it. */
const K1_ZIGZAG = [
  16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49, 35, 37, 29, 40, 58, 51, 61, 60,
  57, 51, 56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 87, 95, 98, 103, 104, 103, 62, 77, 113, 121, 112,
  100, 120, 92, 101, 103, 99,
];

describe('encodeJpeg', () => {
  it('writes SOI, JFIF APP0, DQT, SOF0, DHT and SOS in order and ends with EOI', () => {
    const jpeg = encodeJpeg(smoothImage(640, 480), 640, 480, 85);
    const { segments, scan } = parse(jpeg);
    expect(segments.map((s) => s.marker)).to.deep.equal([0xe0, 0xdb, 0xc0, 0xc4, 0xda]);
    expect([...jpeg.subarray(-2)]).to.deep.equal([0xff, 0xd9]);

    const app0 = segment(segments, 0xe0);
    expect(new TextDecoder().decode(app0.subarray(0, 5))).to.equal('JFIF\0');
    expect([app0[5], app0[6]]).to.deep.equal([1, 1]);

    const sof = segment(segments, 0xc0);
    expect(sof[0], 'sample precision').to.equal(8);
    expect((sof[1]! << 8) | sof[2]!, 'height').to.equal(480);
    expect((sof[3]! << 8) | sof[4]!, 'width').to.equal(640);
    expect([...sof.subarray(5)]).to.deep.equal([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);

    expect([...segment(segments, 0xda)]).to.deep.equal([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
    // Inside the scan every 0xFF must be stuffed, since there are no restart markers.
    for (let i = 0; i < scan.length; i++) if (scan[i] === 0xff) expect(scan[i + 1], `byte after FF at ${i}`).to.equal(0);
  });

  it('stores width and height of a size that is not a multiple of 8 or 16', () => {
    const sof = segment(parse(encodeJpeg(smoothImage(33, 17), 33, 17)).segments, 0xc0);
    expect((sof[1]! << 8) | sof[2]!).to.equal(17);
    expect((sof[3]! << 8) | sof[4]!).to.equal(33);
  });

  it('carries the four Annex K Huffman tables', () => {
    const dht = segment(parse(encodeJpeg(smoothImage(16, 16), 16, 16)).segments, 0xc4);
    const seen: Record<string, number[]> = {};
    for (let p = 0; p < dht.length;) {
      const key = `${dht[p]! >> 4}/${dht[p]! & 15}`;
      const counts = [...dht.subarray(p + 1, p + 17)];
      const total = counts.reduce((a, b) => a + b, 0);
      const symbols = [...dht.subarray(p + 17, p + 17 + total)];
      expect(counts, key).to.deep.equal(ANNEX_K_COUNTS[key]);
      expect(new Set(symbols).size, `${key} symbols are distinct`).to.equal(total);
      seen[key] = symbols;
      p += 17 + total;
    }
    expect(Object.keys(seen).sort()).to.deep.equal(['0/0', '0/1', '1/0', '1/1']);
    expect(seen['0/0']).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(seen['1/0']!.slice(0, 8)).to.deep.equal([0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12]);
    expect(seen['1/1']!.slice(0, 8)).to.deep.equal([0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21]);
    expect(seen['1/0']!.at(-1)).to.equal(0xfa);
    expect(seen['1/1']!.at(-1)).to.equal(0xfa);
  });

  it('scales Table K.1 by quality: unchanged at 50, all ones at 100', () => {
    const dqt = (quality: number): number[] => [...segment(parse(encodeJpeg(smoothImage(8, 8), 8, 8, quality)).segments, 0xdb)];
    const at50 = dqt(50);
    expect(at50[0]).to.equal(0x00);
    expect(at50.slice(1, 65)).to.deep.equal(K1_ZIGZAG);
    expect(at50[65]).to.equal(0x01);
    expect(dqt(100).slice(1, 65)).to.deep.equal(new Array(64).fill(1));
  });

  for (const subsampling of ['4:2:0', '4:4:4'] as ChromaSubsampling[]) {
    for (const [width, height] of [[640, 480], [33, 17]] as const) {
      it(`decodes (jpeg-js) close to the source: ${width}x${height}, ${subsampling}, quality 90`, () => {
        const rgb = smoothImage(width, height);
        const errors = decodeError(encodeJpeg(rgb, width, height, 90, subsampling), rgb, width, height);
        // Halving chroma alone costs about 1.4 per channel on this image with jpeg-js's plain upsampling.
        const bound = subsampling === '4:2:0' ? 2.5 : 1.5;
        for (const e of errors) expect(e).to.be.below(bound);
      });
    }
  }

  it('writes 4:4:4 as one-by-one sampling for all three components', () => {
    const sof = segment(parse(encodeJpeg(smoothImage(20, 20), 20, 20, 85, '4:4:4')).segments, 0xc0);
    expect([sof[7], sof[10], sof[13]]).to.deep.equal([0x11, 0x11, 0x11]);
  });

  it('reproduces solid colours, including a single pixel', () => {
    const colours = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [90, 160, 30]] as const;
    for (const colour of colours) {
      for (const [width, height] of [[1, 1], [9, 23]] as const) {
        const jpeg = encodeJpeg(solidImage(width, height, colour), width, height, 90);
        const decoded = decode(jpeg, { useTArray: true, formatAsRGBA: false });
        let worst = 0;
        for (let i = 0; i < decoded.data.length; i++) worst = Math.max(worst, Math.abs(decoded.data[i]! - colour[i % 3]!));
        expect(worst, `${colour} at ${width}x${height}`).to.be.at.most(3);
      }
    }
  });

  it('trades size for fidelity with quality', () => {
    const rgb = smoothImage(160, 120);
    const low = encodeJpeg(rgb, 160, 120, 20);
    const high = encodeJpeg(rgb, 160, 120, 95);
    expect(low.length).to.be.below(high.length);
    const lowError = decodeError(low, rgb, 160, 120).reduce((a, b) => a + b);
    const highError = decodeError(high, rgb, 160, 120).reduce((a, b) => a + b);
    expect(highError).to.be.below(lowError);
  });

  it('gives the same bytes for the same input', () => {
    const rgb = smoothImage(50, 30);
    expect(encodeJpeg(rgb, 50, 30)).to.deep.equal(encodeJpeg(rgb, 50, 30));
  });

  it('rejects impossible dimensions and too few bytes', () => {
    expect(() => encodeJpeg(new Uint8Array(0), 0, 1)).to.throw(RangeError);
    expect(() => encodeJpeg(new Uint8Array(30), 2.5, 4)).to.throw(RangeError);
    expect(() => encodeJpeg(new Uint8Array(3 * 65536), 65536, 1)).to.throw(RangeError);
    expect(() => encodeJpeg(new Uint8Array(10), 2, 2)).to.throw(RangeError, /needs 12/);
    expect(() => encodeJpeg(new Uint8Array(12), 2, 2, 85, '4:2:2' as ChromaSubsampling)).to.throw(RangeError);
    expect(() => encodeJpeg(new Uint8Array(12), 2, 2, Number.NaN)).to.throw(RangeError);
  });
});

describe('FakeCamera', () => {
  it('captures 320x240 JPEGs by default that an independent decoder reads', () => {
    const camera = new FakeCamera();
    const jpeg = camera.capture();
    const decoded = decode(jpeg, { useTArray: true });
    expect([decoded.width, decoded.height]).to.deep.equal([320, 240]);
    expect(camera.frameCount).to.equal(1);
  });

  it('decodes close to the frame it rendered', () => {
    const camera = new FakeCamera({ width: 64, height: 48, quality: 95, subsampling: '4:4:4' });
    const frame = camera.render(0);
    const errors = decodeError(camera.capture(), frame.rgb, 64, 48);
    for (const e of errors) expect(e).to.be.below(4);
  });

  it('changes the picture from one capture to the next', () => {
    const camera = new FakeCamera();
    const captures = [camera.capture(), camera.capture(), camera.capture()];
    expect(captures[0]).to.not.deep.equal(captures[1]);
    expect(captures[1]).to.not.deep.equal(captures[2]);
    expect(camera.frameCount).to.equal(3);
  });

  it('repeats the same frames for the same seed and differs for another', () => {
    const first = new FakeCamera({ seed: 42 }).capture();
    expect(new FakeCamera({ seed: 42 }).capture()).to.deep.equal(first);
    expect(new FakeCamera({ seed: 43 }).capture()).to.not.deep.equal(first);
  });

  it('renders any frame on demand without moving the sequence on', () => {
    const camera = new FakeCamera({ width: 40, height: 30, seed: 7 });
    const fifth = camera.render(4);
    expect(camera.frameCount).to.equal(0);
    const frames = [camera.frame(), camera.frame(), camera.frame(), camera.frame(), camera.frame()];
    expect(frames[4]).to.deep.equal(fifth);
    expect(frames.map((f) => f.index)).to.deep.equal([0, 1, 2, 3, 4]);
    expect(fifth.rgb.length).to.equal(40 * 30 * 3);
  });

  it('works at odd and tiny sizes', () => {
    for (const [width, height] of [[33, 17], [1, 1], [7, 300]] as const) {
      const decoded = decode(new FakeCamera({ width, height }).capture(), { useTArray: true });
      expect([decoded.width, decoded.height]).to.deep.equal([width, height]);
    }
  });

  it('fits the camera module\'s 512 KiB buffer even at 640x480, quality 95', () => {
    expect(new FakeCamera({ width: 640, height: 480, quality: 95 }).capture().length).to.be.below(512 * 1024);
  });

  it('rejects bad sizes and frame numbers', () => {
    expect(() => new FakeCamera({ width: 0 })).to.throw(RangeError);
    expect(() => new FakeCamera({ height: 70000 })).to.throw(RangeError);
    expect(() => new FakeCamera().render(-1)).to.throw(RangeError);
    expect(() => new FakeCamera({ quality: Number.NaN })).to.throw(RangeError);
  });
});
