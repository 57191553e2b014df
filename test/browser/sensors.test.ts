// A phone's motion and orientation sensors as the `sensors` capability: offered once
// they give a reading (desktop browsers have the events but no sensor), and read by a
// module in a worker through the sandbox's blocking bridge.
import { expect } from 'chai';
import { DeviceSensors } from '../../web/capabilities/sensors.ts';
import { createBrowserSandbox } from '../../web/sandbox/browser-sandbox.ts';
import { moduleFile } from './module-files.ts';
import { bridgeWhereNeeded } from './bridge-service-worker.ts';

// Without shared memory, host calls go through the service worker (ADR 0039).
await bridgeWhereNeeded();

describe('Browser sensors capability', function () {
  it('offers nothing where no sensor answers', async () => {
    const sensors = new DeviceSensors();
    try {
      const services = await sensors.probe(50);
      expect(services.readAcceleration).to.equal(undefined);
      expect(services.readOrientation).to.equal(undefined);
    } finally {
      sensors.close();
    }
  });

  it('serves sensors.acceleration and sensors.orientation readings to a module', async () => {
    const sensors = new DeviceSensors();
    const sandbox = createBrowserSandbox();
    try {
      const probing = sensors.probe(100);
      window.dispatchEvent(new DeviceMotionEvent('devicemotion', { accelerationIncludingGravity: { x: 3, y: 4, z: 12 } }));
      window.dispatchEvent(new DeviceOrientationEvent('deviceorientation', { alpha: 271.5, beta: 10, gamma: -3 }));
      const services = await probing;
      expect(Object.keys(services).sort()).to.deep.equal(['readAcceleration', 'readOrientation']);
      expect(sandbox.grantable(services)).to.include.members(['sensors.acceleration', 'sensors.orientation']);
      expect(sandbox.grantable(services)).to.not.include('sensors.location');

      const m = await sandbox.load({ wasm: await moduleFile('motion/motion.wasm'), grants: ['sensors.*'], services });
      const magnitude = await m.call({ fn: 'acceleration_magnitude', convention: { kind: 'scalar', args: [] }, outputs: [] });
      expect(magnitude.value).to.equal(13);
      window.dispatchEvent(new DeviceOrientationEvent('deviceorientation', { alpha: 90, beta: 0, gamma: 0 }));
      const heading = await m.call({ fn: 'heading', convention: { kind: 'scalar', args: [] }, outputs: [] });
      expect(heading.value).to.equal(90);
    } finally {
      await sandbox.close();
      sensors.close();
    }
  });

  it('refuses the sensors imports to a deployment not granted them', async () => {
    const sandbox = createBrowserSandbox();
    try {
      const services = { readAcceleration: async (): Promise<[number, number, number]> => [0, 0, 9.81], readOrientation: async (): Promise<[number, number, number]> => [0, 0, 0] };
      const error = await sandbox.load({ wasm: await moduleFile('motion/motion.wasm'), grants: [], services }).then(() => null, (e: { code?: string }) => e);
      expect(error?.code).to.equal('ERR_IMPORT_DENIED');
    } finally {
      await sandbox.close();
    }
  });
});
