// The browser camera capability against Chromium's fake media device, through the
// sandbox: the camera module writes the frame to its output mount.
import { expect } from 'chai';
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { BrowserCamera } from '../../web/capabilities/camera.ts';
import { bridgeWhereNeeded } from './bridge-service-worker.ts';

// Without shared memory, host calls go through the service worker (ADR 0039).
await bridgeWhereNeeded();

describe('Browser camera capability', function () {
  it('captures a JPEG from getUserMedia that the browser can decode', async () => {
    const camera = new BrowserCamera({ width: 320, height: 240 });
    try {
      const jpeg = await camera.capture();
      expect([jpeg[0], jpeg[1], jpeg[jpeg.length - 2], jpeg[jpeg.length - 1]]).to.deep.equal([0xff, 0xd8, 0xff, 0xd9]);
      const bitmap = await createImageBitmap(new Blob([jpeg as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }));
      expect([bitmap.width, bitmap.height]).to.deep.equal([320, 240]);
    } finally {
      camera.close();
    }
  });

  it('serves camera.takeImageStaticSize to a module in a worker', async () => {
    const camera = new BrowserCamera({ width: 320, height: 240 });
    const sandbox = createBrowserSandbox();
    try {
      const wasm = new Uint8Array(await (await fetch('/modules/camera/camera.wasm')).arrayBuffer());
      const m = await sandbox.load({ wasm, grants: ['camera.*', 'wasi_snapshot_preview1.*'], services: { captureImage: () => camera.capture() } });
      const r = await m.call({ fn: 'take_image_predefined_path', convention: { kind: 'scalar', args: [] }, outputs: ['image.jpeg'] });
      expect(r.value).to.equal(0);
      const bitmap = await createImageBitmap(new Blob([r.files['image.jpeg']! as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }));
      expect(bitmap.width).to.equal(320);
    } finally {
      await sandbox.close();
      camera.close();
    }
  });
});
