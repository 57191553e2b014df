/**
 * A phone's other sensors as capabilities: motion (`sensors.acceleration`), orientation
 * (`sensors.orientation`) and position (`sensors.location`). A sensor is offered only
 * once it has given a reading — desktop browsers have the event APIs but no sensor
 * behind them — and position only where the user already allowed it (a peer must not
 * prompt when a module happens to run).
 */
import type { HostServices } from '../../shared/ports/sandbox.ts';

type Triple = [number, number, number];

/** Latest readings of the device's motion and orientation sensors, and its position. */
export class DeviceSensors {
  #motion: Triple | null = null;
  #orientation: Triple | null = null;
  #location: Triple | null = null;
  readonly #target: EventTarget;
  readonly #offs: (() => void)[] = [];

  constructor(target: EventTarget = globalThis) {
    this.#target = target;
    this.#listen('devicemotion', (e) => {
      const a = (e as DeviceMotionEvent).accelerationIncludingGravity;
      if (a && a.x !== null && a.y !== null && a.z !== null) this.#motion = [a.x, a.y, a.z];
    });
    this.#listen('deviceorientation', (e) => {
      const o = e as DeviceOrientationEvent;
      if (o.alpha !== null && o.beta !== null && o.gamma !== null) this.#orientation = [o.alpha, o.beta, o.gamma];
    });
  }

  #listen(type: string, handler: (e: Event) => void): void {
    this.#target.addEventListener(type, handler);
    this.#offs.push(() => this.#target.removeEventListener(type, handler));
  }

  /**
   * Wait up to `ms` for first readings, and read the position if the user allowed it;
   * then the services of whatever answered.
   */
  async probe(ms = 300): Promise<HostServices> {
    await Promise.all([new Promise((r) => setTimeout(r, ms)), this.#probeLocation()]);
    const services: HostServices = {};
    if (this.#motion) services.readAcceleration = async () => this.#motion!;
    if (this.#orientation) services.readOrientation = async () => this.#orientation!;
    if (this.#location) services.readLocation = () => this.#readLocation();
    return services;
  }

  async #probeLocation(): Promise<void> {
    if (typeof navigator === 'undefined' || !navigator.geolocation || !navigator.permissions) return;
    const state = await navigator.permissions.query({ name: 'geolocation' }).then((p) => p.state, () => 'denied');
    if (state !== 'granted') return;
    await this.#readLocation().catch(() => undefined);
  }

  #readLocation(): Promise<Triple> {
    return new Promise((resolve, reject) =>
      navigator.geolocation.getCurrentPosition(
        (p) => resolve((this.#location = [p.coords.latitude, p.coords.longitude, p.coords.accuracy])),
        (e) => reject(new Error(`position unavailable: ${e.message}`)),
        { maximumAge: 10_000, timeout: 5_000 },
      ),
    );
  }

  /** Stop listening. */
  close(): void {
    for (const off of this.#offs.splice(0)) off();
  }
}
