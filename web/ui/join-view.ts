/**
 * `<lm-join-view>`: join another device to the mesh. First the certificate step: a phone
 * must trust the mesh's certificate authority before the HTTPS page opens, so the view
 * shows the certificate page (the join URL's `trust` parameter) as a link and a QR code
 * with short per-platform instructions — hidden on a loopback page with no certificate
 * page known. Then the join URL as a QR code (uqr, SVG); a phone that opens it runs the
 * PWA, joins the same mesh as a device of its own and offers its camera and motion
 * sensors. The view lists what this device offers to the mesh and which other sensors
 * the browser exposes.
 */
import { css, html, LitElement, nothing } from 'lit';
import { unsafeSVG } from 'lit/directives/unsafe-svg.js';
import { renderSVG } from 'uqr';
import { BrowserCamera } from '../capabilities/camera.ts';
import { type MeshNode, RegistryController } from './controllers.ts';
import { capabilityGroups } from './format.ts';
import { shared } from './styles.ts';
import { trustStepsList } from './trust-steps.ts';
import { defaultCapabilityPolicy, grantedCapabilities } from '../../shared/trust/capability-policy.ts';
import { isOn, type Switch, SWITCHES, switched } from '../owner-policy.ts';
import type { InvitationReply } from '../../shared/mesh/owner-service.ts';
import { ROLES, type Role } from '../../shared/trust/roles.ts';
import { INVITE_PARAM } from '../mesh-roles.ts';
import { membershipOf, membershipText, ownerPeerOf } from './membership.ts';

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

/** An http(s) URL as given, or '' (a crafted parameter must not become a script link). */
export function safeHttpUrl(raw: string): string {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : '';
  } catch {
    return '';
  }
}

/** True when this page is served from this machine (loopback), where no certificate is needed. */
function isLoopbackPage(): boolean {
  const host = location.hostname;
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
}

/** True where motion events wait for the user's permission (iOS Safari). */
function motionNeedsPermission(): boolean {
  return typeof DeviceMotionEvent !== 'undefined' && typeof (DeviceMotionEvent as unknown as { requestPermission?: unknown }).requestPermission === 'function';
}

/** The certificate step, the join URL as a QR code, and this device's capabilities and sensors. */
export class JoinView extends LitElement {
  static override properties = { node: { attribute: false }, joinUrl: {}, trustUrl: {}, camera: { state: true }, motion: { state: true }, inviteRole: { state: true }, invitation: { state: true }, inviteError: { state: true } };
  static override styles = [
    shared,
    css`
      figure { margin: 0; }
      .qr { background: #fff; padding: 0.6rem; border-radius: 0.5rem; width: min(16rem, 70vw); }
      .qr svg { display: block; width: 100%; height: auto; }
      .url { word-break: break-all; }
      .layout { display: flex; gap: 1rem; flex-wrap: wrap; align-items: flex-start; }
      .layout > * { flex: 1 1 16rem; min-width: 0; }
      a { color: #7dd3fc; }
      .step-no { display: inline-grid; place-items: center; width: 1.5rem; height: 1.5rem; border-radius: 50%; background: #2563eb; font-size: 0.85rem; margin-right: 0.3rem; }
      ul.trust-steps { padding-left: 1rem; margin: 0.3rem 0 0; }
      ul.trust-steps li + li { margin-top: 0.3rem; }
      button { min-height: 44px; }
    `,
  ];
  declare node: MeshNode | undefined;
  declare joinUrl: string;
  /** The page serving the mesh's certificate ('' when unknown). */
  declare trustUrl: string;
  declare camera: string;
  declare motion: string;
  /** The role the owner picked for the next invitation. */
  declare inviteRole: Role;
  /** The invitation the QR code carries now (owners only). */
  declare invitation: (InvitationReply & { url: string }) | null;
  declare inviteError: string;
  readonly #registry = new RegistryController(this, () => this.node, ['devices']);

  constructor() {
    super();
    this.node = undefined;
    this.joinUrl = '';
    this.trustUrl = '';
    this.camera = '';
    this.motion = '';
    this.inviteRole = 'device';
    this.invitation = null;
    this.inviteError = '';
  }

  override render() {
    const self = this.node ? this.node.peer.registry.devices.get(this.#registry.self) : undefined;
    // Offered means the hardware is there and the owner has switched it on for the mesh.
    const sensors = detectSensors(self ? grantedCapabilities(self.policy ?? defaultCapabilityPolicy(), self.capabilities, {}) : []);
    const policy = this.node?.grants.policy;
    const trust = this.#trustStep();
    // An owner's QR code carries the invitation it made; others show the plain link.
    const shown = this.invitation?.url ?? this.joinUrl;
    return html`<h2>Join the mesh</h2>
      <div class="layout">
        ${trust}
        <figure class="card stack" aria-label="Join QR code">
          <h3>${trust === nothing ? nothing : html`<span class="step-no">2</span>`}Open the mesh</h3>
          ${this.#invite()}
          ${shown ? html`<div class="qr" role="img" aria-label="QR code of the join URL">${unsafeSVG(renderSVG(shown, { border: 1 }))}</div>` : html`<p class="empty">No join URL.</p>`}
          <figcaption class="small">
            Scan with a phone, or open: <div><a class="url mono" href=${shown}>${shown}</a></div>
            <button class="secondary" @click=${() => void navigator.clipboard?.writeText(shown)}>Copy link</button>
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
          ${policy
            ? html`<fieldset class="offers" aria-label="Offered to the mesh">
                <legend>Offered to the mesh</legend>
                ${SWITCHES.map((name) => html`<label class="row"><input type="checkbox" name=${`offer-${name}`} .checked=${isOn(policy, name)} @change=${(e: Event) => this.#offer(name, (e.target as HTMLInputElement).checked)} /> My ${name === 'camera' ? 'camera' : 'motion, orientation and position sensors'}</label>`)}
                <p class="muted small">Off: no module of any operator can use it, and modules running here lose it at their next use.</p>
              </fieldset>`
            : nothing}
          ${BrowserCamera.available() ? html`<div class="row"><button class="secondary" @click=${() => void this.#allowCamera()}>Allow the camera now</button><span class="small">${this.camera}</span></div>` : nothing}
          ${motionNeedsPermission() ? html`<div class="row"><button class="secondary" @click=${() => void this.#allowMotion()}>Allow motion sensors</button><span class="small">${this.motion}</span></div>` : nothing}
        </section>
      </div>`;
  }

  /**
   * This device's membership and, on an owner's page, the role picker: the QR code then
   * carries a new single-use invitation for that role, made by the peer holding the
   * owner key. Other members' codes carry no invitation: joining needs one from an owner.
   */
  #invite() {
    const membership = membershipOf(this.node);
    if (!membership.roles) return nothing;
    const line = html`<p class="small membership ${membership.role === undefined ? 'error' : ''}">${membershipText(membership)}</p>`;
    if (membership.role !== 'owner') return html`${line}<p class="small muted">A device that scans this code needs an invitation from an owner of the mesh to join it.</p>`;
    const maker = ownerPeerOf(this.node);
    return html`${line}
      <div class="row invite">
        <label>Invite as <select name="invite-role" @change=${(e: Event) => (this.inviteRole = (e.target as HTMLSelectElement).value as Role)}>
          ${ROLES.map((r) => html`<option value=${r} ?selected=${r === this.inviteRole}>${r}</option>`)}
        </select></label>
        <button class="new-invitation" ?disabled=${!maker} @click=${() => void this.#newInvitation()}>New invitation</button>
      </div>
      ${maker ? nothing : html`<p class="small muted">The peer holding the owner key is not reachable: no invitation can be made now.</p>`}
      ${this.invitation ? html`<p class="small invitation">Single use: makes one ${this.invitation.role}, until ${new Date(this.invitation.expires).toLocaleString()}.</p>` : nothing}
      ${this.inviteError ? html`<p class="small error invite-error" role="alert">${this.inviteError}</p>` : nothing}`;
  }

  /** Ask the owner-key peer for an invitation of the picked role and show it as the QR code. */
  async #newInvitation(): Promise<void> {
    const maker = ownerPeerOf(this.node);
    if (!this.node || !maker) return;
    try {
      const reply = await this.node.peer.call(maker, 'trust.invite', { role: this.inviteRole });
      const url = new URL(this.joinUrl);
      url.searchParams.set(INVITE_PARAM, reply.token);
      this.invitation = { ...reply, url: url.toString() };
      this.inviteError = '';
    } catch (error) {
      this.inviteError = `No invitation: ${(error as Error).message} (${String((error as { code?: unknown }).code ?? 'ERR_INTERNAL')})`;
    }
  }

  /** The owner switches a capability group on or off for the whole mesh. */
  #offer(name: Switch, on: boolean): void {
    const grants = this.node?.grants;
    if (!grants) return;
    grants.set(switched(grants.policy, name, on));
    this.requestUpdate();
  }

  /**
   * The certificate step, before the join QR: the certificate page as a link and a QR
   * code, and how to trust it. Hidden on a loopback page that knows no certificate page
   * (a desktop demo on one machine needs none).
   */
  #trustStep() {
    const trust = safeHttpUrl(this.trustUrl);
    if (!trust && isLoopbackPage()) return nothing;
    return html`<figure class="card stack trust" aria-label="Trust the mesh's certificate">
      <h3><span class="step-no">1</span>Trust the mesh's certificate</h3>
      <p class="small">Phones and other machines reach the mesh over HTTPS, signed by the mesh's own certificate authority. Trust it once on each device, then open the mesh.</p>
      ${trust
        ? html`<div class="qr trust-qr" role="img" aria-label="QR code of the certificate page">${unsafeSVG(renderSVG(trust, { border: 1 }))}</div>
            <figcaption class="small">Certificate page: <div><a class="trust-url mono" href=${trust}>${trust}</a></div></figcaption>`
        : html`<p class="small muted">The certificate page is not known here: <code>liquidmesh start</code> prints it (and puts it in the join URL it prints).</p>`}
      <details open><summary class="small">How to trust it</summary>${trustStepsList()}</details>
    </figure>`;
  }

  /** iOS asks before motion and orientation events flow, and only from a tap. */
  async #allowMotion(): Promise<void> {
    try {
      const state = await (DeviceMotionEvent as unknown as { requestPermission(): Promise<string> }).requestPermission();
      this.motion = state === 'granted' ? 'Motion sensors allowed; they are offered from the next start.' : `Motion sensors: ${state}.`;
    } catch (error) {
      this.motion = `Motion sensors refused: ${(error as Error).message}`;
    }
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
