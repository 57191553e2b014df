// The fake camera's JPEGs through Chromium's own decoder: what a page or a browser peer
// will actually do with them, and a second decoder besides jpeg-js in the Node suite.
import { expect } from 'chai';
import { FakeCamera } from '../../shared/adapters/fake-camera.ts';
import { type ChromaSubsampling, encodeJpeg } from '../../shared/media/jpeg-encoder.ts';

type Rgb = readonly [number, number, number];

/** Decode with the browser and return the RGBA pixels as the canvas sees them. */
async function browserDecode(jpeg: Uint8Array): Promise<{ width: number; height: number; rgba: Uint8ClampedArray }> {
  // Copied so that the Blob gets a plain ArrayBuffer whatever backs `jpeg`.
  const bitmap = await createImageBitmap(new Blob([jpeg.slice()], { type: 'image/jpeg' }));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d')!;
  context.drawImage(bitmap, 0, 0);
  const { width, height } = bitmap;
  bitmap.close();
  return { width, height, rgba: context.getImageData(0, 0, width, height).data };
}

function pixel(image: { width: number; rgba: Uint8ClampedArray }, x: number, y: number): Rgb {
  const o = (y * image.width + x) * 4;
  return [image.rgba[o]!, image.rgba[o + 1]!, image.rgba[o + 2]!];
}

function expectClose(actual: Rgb, expected: Rgb, tolerance: number, where: string): void {
  for (let c = 0; c < 3; c++) {
    expect(Math.abs(actual[c]! - expected[c]!), `${where}: got ${actual}, want ${expected}`).to.be.at.most(tolerance);
  }
}

/** Four solid quadrants; the probes sit in their middles, away from the ringing at the borders. */
const QUADRANTS: readonly Rgb[] = [[220, 40, 40], [40, 200, 60], [30, 60, 210], [240, 230, 80]];

function quadrantImage(width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const colour = QUADRANTS[(y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)]!;
      rgb.set(colour, (y * width + x) * 3);
    }
  }
  return rgb;
}

describe('fake camera JPEGs in Chromium', () => {
  for (const subsampling of ['4:2:0', '4:4:4'] as ChromaSubsampling[]) {
    it(`decodes a ${subsampling} image to the right size and colours`, async () => {
      const image = await browserDecode(encodeJpeg(quadrantImage(64, 48), 64, 48, 90, subsampling));
      expect([image.width, image.height]).to.deep.equal([64, 48]);
      expectClose(pixel(image, 16, 12), QUADRANTS[0]!, 8, 'top left');
      expectClose(pixel(image, 48, 12), QUADRANTS[1]!, 8, 'top right');
      expectClose(pixel(image, 16, 36), QUADRANTS[2]!, 8, 'bottom left');
      expectClose(pixel(image, 48, 36), QUADRANTS[3]!, 8, 'bottom right');
    });
  }

  it('decodes an odd size, including the padded right and bottom edges', async () => {
    const colour: Rgb = [90, 160, 30];
    const rgb = new Uint8Array(33 * 17 * 3);
    for (let i = 0; i < rgb.length; i += 3) rgb.set(colour, i);
    const image = await browserDecode(encodeJpeg(rgb, 33, 17, 90));
    expect([image.width, image.height]).to.deep.equal([33, 17]);
    for (const [x, y] of [[0, 0], [32, 0], [0, 16], [32, 16], [16, 8]] as const) {
      expectClose(pixel(image, x, y), colour, 4, `(${x}, ${y})`);
    }
  });

  it('decodes a camera capture close to the frame it rendered', async () => {
    const camera = new FakeCamera({ seed: 5 });
    const frame = camera.render(0);
    const image = await browserDecode(camera.capture());
    expect([image.width, image.height]).to.deep.equal([320, 240]);
    let error = 0;
    for (let y = 0; y < frame.height; y++) {
      for (let x = 0; x < frame.width; x++) {
        const o = (y * frame.width + x) * 3;
        const got = pixel(image, x, y);
        error += Math.abs(got[0] - frame.rgb[o]!) + Math.abs(got[1] - frame.rgb[o + 1]!) + Math.abs(got[2] - frame.rgb[o + 2]!);
      }
    }
    expect(error / (frame.width * frame.height * 3)).to.be.below(3);
  });
});
