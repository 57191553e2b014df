/**
 * `<lm-kiosk-view>` (`?kiosk`): a full-screen dashboard of this device for a screen
 * nobody touches — a Raspberry Pi running Chromium in kiosk mode. Its name and engine,
 * how many peers it sees, large telemetry sparklines, the modules placed here and the
 * last calls it served, refreshed on their own.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { HistoryEntry } from '../../shared/supervisor/history.ts';
import { type MeshNode, RegistryController, TelemetryController } from './controllers.ts';
import { clockTime, engineLabel, formatMs, modulesOn } from './format.ts';
import './sparkline.ts';
import { shared } from './styles.ts';

/** This device, full screen. */
export class KioskView extends LitElement {
  static override properties = { node: { attribute: false }, calls: { state: true }, now: { state: true } };
  static override styles = [
    shared,
    css`
      :host { min-height: 100vh; box-sizing: border-box; padding: 1.5rem 2rem; display: grid; gap: 1.2rem; grid-template-rows: auto auto 1fr; }
      header { display: flex; align-items: baseline; gap: 1rem; }
      header h1 { font-size: 2.6rem; margin: 0; }
      header .clock { margin-left: auto; font-size: 2rem; font-variant-numeric: tabular-nums; }
      .spark { display: grid; grid-template-columns: repeat(3, 1fr); gap: 1.5rem; }
      lm-sparkline { font-size: 1.1rem; }
      lm-sparkline::part(svg) { height: 4rem; }
      .panels { display: grid; grid-template-columns: 1fr 2fr; gap: 1.2rem; align-items: start; }
      .chip { font-size: 1rem; padding: 0.3rem 0.8rem; }
      @media (max-width: 600px) {
        :host { padding: 1rem 0.75rem; }
        header { flex-wrap: wrap; }
        header h1 { font-size: 1.8rem; overflow-wrap: anywhere; min-width: 0; }
        header .clock { font-size: 1.3rem; }
        .spark { gap: 0.5rem; grid-template-columns: repeat(3, minmax(0, 1fr)); }
        lm-sparkline { min-width: 0; }
        .panels { grid-template-columns: minmax(0, 1fr); }
      }
    `,
  ];
  declare node: MeshNode | undefined;
  declare calls: HistoryEntry[];
  declare now: number;
  readonly #registry = new RegistryController(this, () => this.node);
  readonly #telemetry = new TelemetryController(this, () => this.node, { keep: 90 });
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor() {
    super();
    this.node = undefined;
    this.calls = [];
    this.now = Date.now();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.#timer = setInterval(() => void this.#refresh(), 2000);
    void this.#refresh();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  override render() {
    const node = this.node;
    if (!node) return html`<header><h1>LiquidMesh</h1><span class="muted">starting…</span></header>`;
    const self = node.peer.registry.devices.get(node.peer.id);
    const t = this.#telemetry.of(node.peer.id);
    const placed = modulesOn(node.peer.id, this.#registry.deployments);
    return html`<header>
        <h1 class="name">${self?.name ?? node.peer.id.slice(0, 8)}</h1>
        <span class="badge">${self ? engineLabel(self.engine, self.browser) : ''}</span>
        <span class="muted peers">${node.peer.alive().length} peer${node.peer.alive().length === 1 ? '' : 's'} alive · ${this.#registry.devices.length} known</span>
        <span class="clock">${clockTime(this.now)}</span>
      </header>
      <div class="spark card">
        <lm-sparkline label="cpu" .values=${t.cpu}></lm-sparkline>
        <lm-sparkline label="memory" .values=${t.memory}></lm-sparkline>
        <lm-sparkline label="calls/s" unit="" .max=${0} .values=${t.calls}></lm-sparkline>
      </div>
      <div class="panels">
        <section class="card stack" aria-label="Modules here">
          <h2>Modules here</h2>
          ${placed.length === 0 ? html`<p class="empty">none</p>` : nothing}
          <div class="row">${placed.map((m) => html`<span class="chip">${m.module} <span class="muted small">${m.deploymentName}</span></span>`)}</div>
        </section>
        <section class="card stack" aria-label="Recent calls">
          <h2>Recent calls</h2>
          ${this.calls.length === 0
            ? html`<p class="empty">No call served yet.</p>`
            : html`<table>
                ${this.calls.map(
                  (c) => html`<tr><td>${clockTime(c.startedAt)}</td><td><code>${c.moduleName}.${c.functionName}</code></td><td>${c.success ? html`<span class="ok">${JSON.stringify(c.result ?? null)}</span>` : html`<span class="badge failed">${c.error?.code ?? 'error'}</span>`}</td><td>${formatMs(c.durationMs)}</td></tr>`,
                )}
              </table>`}
        </section>
      </div>`;
  }

  async #refresh(): Promise<void> {
    this.now = Date.now();
    const node = this.node;
    if (!node) return;
    try {
      this.calls = await node.supervisor.history.query({ limit: 8 });
    } catch {
      // History not readable right now (stopping): keep what is shown.
    }
  }
}
if (!customElements.get('lm-kiosk-view')) customElements.define('lm-kiosk-view', KioskView);
