/**
 * `<lm-app>`: the PWA's shell — a header with the mesh, this device and its connectivity,
 * the offline and update notices, tabs for the views (mesh, modules, deployments, run,
 * join; the URL hash keeps the current one) or, with `kiosk`, the full-screen dashboard.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { InsecureArrival } from '../insecure-arrival.ts';
import type { SessionState } from '../mesh-session.ts';
import { ConnectivityController, type LinkStatus, type MeshNode } from './controllers.ts';
import { RUN_EVENT } from './deployments-view.ts';
import { clockTime } from './format.ts';
import { shared } from './styles.ts';
import './deployments-view.ts';
import './insecure-view.ts';
import './join-view.ts';
import './kiosk-view.ts';
import './mesh-view.ts';
import './modules-view.ts';
import './run-view.ts';

/** A new version of the app waiting to take over. */
export interface UpdatePrompt {
  /** Activate the new version (the page reloads). */
  accept(): void;
}

/** The views, in tab order. */
export const VIEWS = ['mesh', 'modules', 'deployments', 'run', 'join'] as const;
/** One of {@link VIEWS}. */
export type ViewName = (typeof VIEWS)[number];
const TITLES: Record<ViewName, string> = { mesh: 'Mesh', modules: 'Modules', deployments: 'Deployments', run: 'Run', join: 'Join' };

function viewOfHash(): ViewName {
  const h = location.hash.slice(1);
  return (VIEWS as readonly string[]).includes(h) ? (h as ViewName) : 'mesh';
}

/** The application shell. */
export class App extends LitElement {
  static override properties = {
    node: { attribute: false },
    link: { attribute: false },
    updatePrompt: { attribute: false },
    mesh: {},
    joinUrl: {},
    trustUrl: {},
    insecure: { attribute: false },
    presence: {},
    kiosk: { type: Boolean },
    savedAt: { type: Number },
    startError: {},
    noSharedMemory: { type: Boolean },
    view: { state: true },
    runTarget: { state: true },
  };
  static override styles = [
    shared,
    css`
      :host { min-height: 100vh; background: #0f172a; }
      .top { display: flex; gap: 0.75rem; align-items: center; flex-wrap: wrap; padding: 0.75rem 1.25rem 0; }
      .top h1 { font-size: 1.3rem; margin: 0; }
      .top .conn { margin-left: auto; }
      nav { display: flex; gap: 0.25rem; padding: 0.5rem 1.25rem; border-bottom: 1px solid #334155; overflow-x: auto; }
      nav button { background: none; border: none; border-bottom: 2px solid transparent; border-radius: 0; color: #94a3b8; }
      nav button[aria-selected='true'] { color: #e2e8f0; border-bottom-color: #38bdf8; }
      main { padding: 1rem 1.25rem 2rem; }
      @media (max-width: 480px) {
        .top, nav { padding-left: 0.75rem; padding-right: 0.75rem; }
        main { padding: 0.75rem 0.75rem 2rem; }
        .banner { margin: 0.5rem 0.75rem 0; }
        nav { gap: 0; padding-left: 0.25rem; padding-right: 0.25rem; }
        nav button { min-height: 44px; padding: 0 0.45rem; }
      }
      .banner { margin: 0.5rem 1.25rem 0; }
      .kiosk .banner { position: fixed; bottom: 1rem; left: 1rem; right: 1rem; z-index: 1; }
    `,
  ];
  declare node: MeshNode | undefined;
  declare link: LinkStatus | undefined;
  declare updatePrompt: UpdatePrompt | null;
  declare mesh: string;
  declare joinUrl: string;
  /** The page serving the mesh's certificate (the join URL's `trust` parameter), if known. */
  declare trustUrl: string;
  /** Set when the page cannot host modules: the app shows why instead of starting. */
  declare insecure: InsecureArrival | null;
  /** Where this page's membership of the mesh stands. */
  declare presence: SessionState | '';
  declare kiosk: boolean;
  /** When the registry shown was last saved (ms since epoch), if known. */
  declare savedAt: number | null;
  declare startError: string;
  /** The page has no SharedArrayBuffer: its modules run without the imports that answer from the page (ADR 0024). */
  declare noSharedMemory: boolean;
  declare view: ViewName;
  declare runTarget: string;
  readonly #connectivity = new ConnectivityController(this, () => this.link);
  readonly #onHash = (): void => {
    this.view = viewOfHash();
  };

  constructor() {
    super();
    this.node = undefined;
    this.link = undefined;
    this.updatePrompt = null;
    this.mesh = '';
    this.joinUrl = '';
    this.trustUrl = '';
    this.insecure = null;
    this.presence = '';
    this.kiosk = false;
    this.savedAt = null;
    this.noSharedMemory = false;
    this.startError = '';
    this.view = viewOfHash();
    this.runTarget = '';
    this.addEventListener(RUN_EVENT, (e) => this.#openRun((e as CustomEvent<string>).detail));
  }

  override connectedCallback(): void {
    super.connectedCallback();
    addEventListener('hashchange', this.#onHash);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    removeEventListener('hashchange', this.#onHash);
  }

  override render() {
    if (this.insecure) return html`<div class="top"><h1>LiquidMesh</h1></div><lm-insecure-view .arrival=${this.insecure}></lm-insecure-view>`;
    const banners = this.#banners();
    if (this.kiosk) return html`<div class="kiosk">${banners}<lm-kiosk-view .node=${this.node}></lm-kiosk-view></div>`;
    const link = this.#connectivity.link;
    const self = this.node?.peer.registry.devices.get(this.node.peer.id);
    return html`<div class="top">
        <h1>LiquidMesh</h1>
        <span class="muted">mesh “${this.mesh}”${self ? html` as <strong class="self-name">${self.name}</strong>` : nothing}</span>
        <span class="conn badge ${this.#connectivity.online ? (link ?? 'connected') : 'unreachable'}">${this.#connectivity.online ? (link === null ? 'local only' : link) : 'offline'}</span>
      </div>
      ${banners}
      <nav role="tablist" aria-label="Views" @keydown=${this.#arrowKeys}>
        ${VIEWS.map((v) => html`<button role="tab" id="tab-${v}" aria-selected=${v === this.view ? 'true' : 'false'} tabindex=${v === this.view ? 0 : -1} @click=${() => this.#show(v)}>${TITLES[v]}</button>`)}
      </nav>
      <main role="tabpanel" aria-labelledby="tab-${this.view}">${this.#current()}</main>`;
  }

  #banners() {
    const online = this.#connectivity.online;
    const saved = this.savedAt ? ` (saved ${new Date(this.savedAt).toLocaleDateString()} ${clockTime(this.savedAt)})` : '';
    return html`${this.startError ? html`<div class="banner error" role="alert">This device could not start: ${this.startError}</div>` : nothing}
      ${!online ? html`<div class="banner notice offline" role="status">You are offline: showing the last known registry${saved}. Devices, modules and deployments come back up to date when the network returns.</div>` : nothing}
      ${this.presence === 'waiting' ? html`<div class="banner notice waiting" role="status">This device is active in another tab of this browser. This tab joins the mesh as it when that tab is closed or hidden.</div>` : nothing}
      ${online && this.#connectivity.link === 'unreachable' ? html`<div class="banner notice unreachable" role="status">The signaling server cannot be reached: only devices in this browser are linked. Retrying…</div>` : nothing}
      ${this.noSharedMemory ? html`<div class="banner notice no-shared-memory" role="status">This browser gives the page no SharedArrayBuffer, and no service worker answers for it: it runs modules, but not those that use its camera, sensors, calls to other devices, pub/sub or wasi-nn, and offers none of those to the mesh. Safari, Firefox and Chromium-based browsers have it.</div>` : nothing}
      ${this.updatePrompt ? html`<div class="banner notice update" role="status">A new version of LiquidMesh is ready. <button @click=${() => this.updatePrompt?.accept()}>Reload to update</button></div>` : nothing}`;
  }

  #current() {
    switch (this.view) {
      case 'modules':
        return html`<lm-modules-view .node=${this.node}></lm-modules-view>`;
      case 'deployments':
        return html`<lm-deployments-view .node=${this.node}></lm-deployments-view>`;
      case 'run':
        return html`<lm-run-view .node=${this.node} .deployment=${this.runTarget}></lm-run-view>`;
      case 'join':
        return html`<lm-join-view .node=${this.node} .joinUrl=${this.joinUrl} .trustUrl=${this.trustUrl}></lm-join-view>`;
      default:
        return html`<lm-mesh-view .node=${this.node}></lm-mesh-view>`;
    }
  }

  #show(view: ViewName): void {
    this.view = view;
    if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
  }

  #openRun(id: string): void {
    this.runTarget = id;
    this.#show('run');
  }

  /** Left/right arrows move between tabs (the ARIA tabs pattern). */
  #arrowKeys(e: KeyboardEvent): void {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const i = VIEWS.indexOf(this.view);
    const next = VIEWS[(i + (e.key === 'ArrowRight' ? 1 : VIEWS.length - 1)) % VIEWS.length]!;
    this.#show(next);
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLButtonElement>(`#tab-${next}`)?.focus());
  }
}
if (!customElements.get('lm-app')) customElements.define('lm-app', App);
