/**
 * Sensor readings for devices without a DHT sensor: a plausible indoor day cycle, so
 * modules that read temperature and humidity run anywhere. Devices that use it list the
 * capabilities as simulated in their description.
 * @module
 */
import type { HostServices } from '../ports/sandbox.ts';

/** Simulated `readTemperature` (°C) and `readHumidity` (0..1) following the time of day. */
export function simulatedSensors(now: () => number = () => Date.now()): Required<Pick<HostServices, 'readTemperature' | 'readHumidity'>> {
  const phase = (): number => ((now() % 86_400_000) / 86_400_000) * 2 * Math.PI;
  return {
    readTemperature: async () => Math.round((21 + 3 * Math.sin(phase())) * 10) / 10,
    readHumidity: async () => Math.round((0.45 + 0.1 * Math.cos(phase())) * 100) / 100,
  };
}

/** The host imports a simulated sensor serves. */
export const SIMULATED_SENSOR_IMPORTS: readonly string[] = ['dht.getTemperature', 'dht.getHumidity'];
