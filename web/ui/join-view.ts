/**
 * `<lm-join-view>`: join another device to the mesh. The desktop shows the join URL as a
 * QR code (uqr, SVG); a phone that opens it runs the PWA, joins the same mesh and offers
 * its camera as the `camera` capability. The view lists what this device offers to the
 * mesh and which other sensors the browser exposes.
 */
import { css, html, LitElement, nothing } from 'lit';
import { unsafeSVG } from 'lit/directives/unsafe-svg.js';
import { renderSVG } from 'uqr';
import { BrowserCamera } from '../capabilities/camera.ts';
import { type MeshNode, RegistryController } from './controllers.ts';
import { capabilityGroups } from './format.ts';
import { shared } from './styles.ts';

/** A sensor the browser exposes, and whether the mesh can use it. */
export interface SensorInfo {
  name: string;
  present: boolean;
  /** Offered to the mesh as host imports (a capability). */
  offered: boolean;
}

/** What this browser has, given the capabilities its peer offers. */
export function detectSensors(capabilities: readonly string[]): SensorInfo[] {
  const w = globalThis as Record<string, unknown>;
  const nav = (typeof navigator === 'undefined' ? {} : navigator) as unknown as Record<string, unknown>;
  const has = (prefix: string): boolean => capabilities.some((c) => c.startsWith(prefix));
  return [
    { name: 'camera', present: BrowserCamera.available(), offered: has('camera.') },
    { name: 'temperature and humidity (simulated DHT)', present: has('dht.'), offered: has('dht.') },
    { name: 'geolocation', present: 'geolocation' in nav, offered: has('sensors.location') },
    { name: 'accelerometer', present: 'Accelerometer' in w || 'DeviceMotionEvent' in w, offered: has('sensors.acceleration') },
    { name: 'orientation', present: 'DeviceOrientationEvent' in w, offered: has('sensors.orientation') },
    { name: 'ambient light', present: 'AmbientLightSensor' in w, offered: false },
    { name: 'battery', present: 'getBattery' in nav, offered: false },
  ];
}

/** QR code of the join URL, and this device's capabilities and sensors. */
export class JoinView extends LitElement {
  static override properties = { node: { attribute: false }, joinUrl: {}, camera: { state: true } };
  static override styles = [
    shared,
    css`
      figure { margin: 0; }
      .qr { background: #fff; padding: 0.6rem; border-radius: 0.5rem; width: min(16rem, 70vw); }
      .qr svg { display: block; width: 100%; height: auto; }
      .url { word-break: break-all; }
      .layout { display: flex; gap: 1.5rem; flex-wrap: wrap; align-items: flex-start; }
    `,
  ];
  declare node: MeshNode | undefined;
  declare joinUrl: string;
  declare camera: string;
  readonly #registry = new RegistryController(this, () => this.node, ['devices']);

  constructor() {
    super();
    this.node = undefined;
    this.joinUrl = '';
    this.camera = '';
  }

  override render() {
    const self = this.node ? this.node.peer.registry.devices.get(this.#registry.self) : undefined;
    const sensors = detectSensors(self?.capabilities ?? []);
    return html`<h2>Join the mesh</h2>
      <div class="layout">
        <figure class="card stack" aria-label="Join QR code">
          ${this.joinUrl ? html`<div class="qr" role="img" aria-label="QR code of the join URL">${unsafeSVG(renderSVG(this.joinUrl, { border: 1 }))}</div>` : html`<p class="empty">No join URL.</p>`}
          <figcaption class="small">
            Scan with a phone, or open: <div><a class="url mono" href=${this.joinUrl}>${this.joinUrl}</a></div>
            <button class="secondary" @click=${() => void navigator.clipboard?.writeText(this.joinUrl)}>Copy link</button>
          </figcaption>
        </figure>
        <section class="card stack" aria-label="This device">
          <h3>This device${self ? html`: ${self.name}` : nothing}</h3>
          <div class="row">${self ? capabilityGroups(self).map((c) => html`<span class="chip">${c.name}${c.simulated ? ' (simulated)' : ''}</span>`) : nothing}</div>
          <table class="sensors">
            <tr><th>Sensor</th><th>This browser</th><th>Offered to the mesh</th></tr>
            ${sensors.map((s) => html`<tr><td>${s.name}</td><td>${s.present ? 'yes' : 'no'}</td><td>${s.offered ? html`<span class="ok">yes</span>` : 'no'}</td></tr>`)}
          </table>
          <p class="muted small">Modules reach the camera through the <code>camera</code> host imports and motion, orientation and position through <code>sensors.acceleration</code>, <code>sensors.orientation</code> and <code>sensors.location</code> — offered once the sensor has given a reading (position only where it is allowed). Ambient light and battery have no host import.</p>
          ${BrowserCamera.available() ? html`<div class="row"><button class="secondary" @click=${() => void this.#allowCamera()}>Allow the camera now</button><span class="small">${this.camera}</span></div>` : nothing}
        </section>
      </div>`;
  }

  /** Ask for the camera once, so a module's first capture does not wait on a prompt. */
  async #allowCamera(): Promise<void> {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      for (const track of stream.getTracks()) track.stop();
      this.camera = 'Camera allowed.';
    } catch (error) {
      this.camera = `Camera refused: ${(error as Error).message}`;
    }
  }
}
if (!customElements.get('lm-join-view')) customElements.define('lm-join-view', JoinView);
