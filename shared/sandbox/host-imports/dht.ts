/**
 * `dht`: a DHT22-style temperature and humidity sensor on the host.
 * @module
 */
import { f64At, type HostCapability } from './host-import.ts';

/** `dht.getTemperature() -> f64` and `dht.getHumidity() -> f64`. */
export const dht: HostCapability = {
  module: 'dht',
  functions: { getTemperature: 'readTemperature', getHumidity: 'readHumidity' },
  writesMemory: false,
  create: (ctx) => ({
    getTemperature: () => f64At(ctx.bridge('readTemperature', [])),
    getHumidity: () => f64At(ctx.bridge('readHumidity', [])),
  }),
};
