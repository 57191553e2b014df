/**
 * `<lm-run-view>`: run a deployment from a form generated from its first step's
 * description — number fields for integer and number parameters, text for strings, file
 * pickers for `bytes` input and execution-stage mounts. The result shows as a number, as
 * JSON, or as an image preview for image outputs, followed by every step's intermediate
 * result, device and timing, and the request history of a device running the deployment
 * (the `supervisor.history` RPC). A chain whose final step returns a number beside its
 * files (camera → classify) also shows the last picture taken along the chain and the
 * final JSON files — a classification as its label, score and top classes.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { ExecuteResult } from '../../shared/orchestrator/orchestrator.ts';
import type { FunctionDescription } from '../../shared/registry/schema.ts';
import type { HistoryEntry } from '../../shared/supervisor/history.ts';
import { type MeshNode, RegistryController } from './controllers.ts';
import { formatBytes } from '../../shared/bytes.ts';
import { classificationOf, clockTime, formatMs, resultShape, type ResultShape } from './format.ts';
import { shared } from './styles.ts';

/** Run deployments and read request history. */
export class RunView extends LitElement {
  static override properties = {
    node: { attribute: false },
    deployment: {},
    running: { state: true },
    result: { state: true },
    error: { state: true },
    historyPeer: { state: true },
    history: { state: true },
    historyError: { state: true },
  };
  static override styles = [
    shared,
    css`
      form { display: flex; flex-direction: column; gap: 0.5rem; }
      .value { font-size: 2.2rem; font-weight: 600; color: #7dd3fc; }
      .label { font-size: 1.6rem; font-weight: 600; }
      ol.top { margin: 0; padding-left: 1.4rem; }
      img.preview { max-width: 100%; max-height: 18rem; border-radius: 0.4rem; background: #fff; }
      img.thumb { max-height: 3rem; }
      pre { margin: 0; white-space: pre-wrap; }
      .warning { color: #fbbf24; margin: 0; }
    `,
  ];
  declare node: MeshNode | undefined;
  /** Id of the deployment to run. */
  declare deployment: string;
  declare running: boolean;
  declare result: ExecuteResult | null;
  declare error: string;
  declare historyPeer: string;
  declare history: HistoryEntry[] | null;
  /** Why the history could not be read (shown in its panel; the run itself succeeded). */
  declare historyError: string;
  readonly #registry = new RegistryController(this, () => this.node, ['deployments', 'modules']);
  /** Object URLs of images shown, by their bytes (one per image, revoked with the result). */
  readonly #urls = new Map<Uint8Array, string>();

  constructor() {
    super();
    this.node = undefined;
    this.deployment = '';
    this.running = false;
    this.result = null;
    this.error = '';
    this.historyPeer = '';
    this.history = null;
    this.historyError = '';
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#revoke();
  }

  override render() {
    const deployments = this.#registry.deployments;
    const view = deployments.find((d) => d.record.id === this.deployment) ?? deployments[0];
    const r = view?.record;
    const first = r?.steps?.[0];
    const module = first ? this.node?.peer.registry.modules.get(first.module) : undefined;
    const fn = first ? module?.functions[first.func] : undefined;
    const peers = [...new Set(Object.values(r?.solution ?? {}))];
    return html`<h2>Run</h2>
      ${deployments.length === 0 ? html`<p class="empty">Nothing is deployed yet: deploy a module first.</p>` : nothing}
      ${r
        ? html`<section class="card stack">
            <label>Deployment
              <select name="deployment" @change=${(e: Event) => this.#select((e.target as HTMLSelectElement).value)}>
                ${deployments.map((d) => html`<option value=${d.record.id} ?selected=${d.record.id === r.id}>${d.record.name} (${d.record.status})</option>`)}
              </select></label>
            ${first && fn ? this.#form(r.id, `${first.name}.${first.func}`, fn) : html`<p class="muted">The first step's description is not known here yet.</p>`}
          </section>`
        : nothing}
      ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
      ${this.result ? this.#result(this.result) : nothing}
      ${r ? this.#historyPanel(r.id, peers) : nothing}`;
  }

  #form(id: string, title: string, fn: FunctionDescription) {
    const params = fn.params.filter((p) => p.type !== 'none');
    const mounts = fn.mounts.filter((m) => m.stage === 'execution');
    return html`<form class="run-form" @submit=${(e: Event) => this.#run(e, id, fn)}>
      <div class="muted small">Input of <code>${title}</code></div>
      ${params.map((p) =>
        p.type === 'bytes'
          ? html`<label>${p.name} (file) <input type="file" name=${`param:${p.name}`} /></label>`
          : html`<label>${p.name} <input name=${`param:${p.name}`} type=${p.type === 'string' ? 'text' : 'number'} step=${p.type === 'integer' ? '1' : 'any'} required /></label>`,
      )}
      ${mounts.map((m) => html`<label>${m.name}${m.mediaType ? ` (${m.mediaType})` : ''} <input type="file" name=${`file:${m.name}`} accept=${m.mediaType ?? ''} /></label>`)}
      ${params.length === 0 && mounts.length === 0 ? html`<div class="muted small">This function takes no input.</div>` : nothing}
      <div><button type="submit" class="run" ?disabled=${this.running}>${this.running ? 'Running…' : 'Run'}</button></div>
    </form>`;
  }

  #result(out: ExecuteResult) {
    const lastStep = out.steps[out.leaves[out.leaves.length - 1] ?? out.steps.length - 1];
    const final = resultShape(out.result, this.#mediaType(out, lastStep?.step ?? 0));
    return html`<section class="card stack result" aria-label="Result">
      <h3>Result <span class="muted small">in ${formatMs(out.totalMs)}</span></h3>
      <div class="final">${this.#shape(final, false)}</div>
      ${final.kind === 'image' ? nothing : this.#extras(out)}
      <table class="steps">
        <tr><th>Step</th><th>Device</th><th>Result</th><th>Function time</th><th>Step total</th></tr>
        ${out.steps.map(
          (s) => html`<tr>
            <td><code>${s.module}.${s.func}</code></td>
            <td>${this.#registry.deviceName(s.peer)}</td>
            <td>${this.#shape(resultShape(s, this.#mediaType(out, s.step)), true)}</td>
            <td>${formatMs(s.durationMs)}</td>
            <td>${formatMs(s.totalMs)}</td>
          </tr>`,
        )}
      </table>
    </section>`;
  }

  /** The picture the chain worked on and the final JSON files, when the final shape is not an image. */
  #extras(out: ExecuteResult) {
    const picture = out.steps
      .flatMap((s) => s.files)
      .filter((f) => f.mediaType.startsWith('image/'))
      .at(-1);
    const json = out.result.files.filter((f) => f.mediaType === 'application/json');
    return html`${picture ? html`<img class="preview picture" alt=${picture.name} src=${this.#url(picture.bytes, picture.mediaType)} />` : nothing}
    ${json.map((f) => {
      const c = classificationOf(f.bytes);
      return html`<div class="output stack" data-file=${f.name}>
        ${c
          ? html`<div class="classification">
              <div class="label">${c.label ?? `class ${c.class}`}${c.score === null ? nothing : html` <span class="muted">${(c.score * 100).toFixed(1)} %</span>`}</div>
              <ol class="top">${c.top.map((t) => html`<li>${t.label ?? `class ${t.index}`} <span class="muted">${(t.score * 100).toFixed(1)} %</span></li>`)}</ol>
            </div>`
          : nothing}
        <details><summary>${f.name}</summary><pre class="mono">${new TextDecoder().decode(f.bytes)}</pre></details>
      </div>`;
    })}`;
  }

  #shape(shape: ResultShape, small: boolean) {
    switch (shape.kind) {
      case 'number':
        return small ? html`<code>${shape.value}</code>` : html`<div class="value">${shape.value}</div>`;
      case 'json':
        return html`<pre class="mono">${shape.text}</pre>`;
      case 'image':
        return html`<img class=${small ? 'thumb' : 'preview'} alt=${shape.name} src=${this.#url(shape.bytes, shape.mediaType)} />`;
      case 'bytes':
        return html`<code>${formatBytes(shape.size)}: ${shape.head}…</code>`;
      default:
        return html`<span class="muted">no value</span>`;
    }
  }

  #historyPanel(id: string, peers: string[]) {
    const peer = peers.includes(this.historyPeer) ? this.historyPeer : (peers[0] ?? '');
    return html`<section class="card stack history" aria-label="Request history">
      <div class="row">
        <h3>Request history</h3>
        <select aria-label="History of device" @change=${(e: Event) => void this.#loadHistory(id, (e.target as HTMLSelectElement).value)}>
          ${peers.map((p) => html`<option value=${p} ?selected=${p === peer}>${this.#registry.deviceName(p)}</option>`)}
        </select>
        <button class="secondary" ?disabled=${!peer} @click=${() => void this.#loadHistory(id, peer)}>Refresh</button>
      </div>
      ${this.historyError ? html`<p class="warning small" role="status">${this.historyError}</p>` : nothing}
      ${this.history === null
        ? html`<p class="muted small">Run the deployment or press Refresh to read the device's history.</p>`
        : this.history.length === 0
          ? html`<p class="empty">No call recorded.</p>`
          : html`<table>
              <tr><th>Time</th><th>Function</th><th>Method</th><th>Args</th><th>Outcome</th><th>Duration</th></tr>
              ${this.history.map(
                (h) => html`<tr>
                  <td>${clockTime(h.startedAt)}</td><td><code>${h.moduleName}.${h.functionName}</code></td><td>${h.method}</td>
                  <td><code>${JSON.stringify(h.args)}</code></td>
                  <td>${h.success ? html`<span class="ok">${h.outputFiles?.length ? h.outputFiles.map((f) => f.name).join(', ') : JSON.stringify(h.result ?? null)}</span>` : html`<span class="badge failed">${h.error?.code ?? 'error'}</span> ${h.error?.message ?? ''}`}</td>
                  <td>${formatMs(h.durationMs)}</td>
                </tr>`,
              )}
            </table>`}
    </section>`;
  }

  #mediaType(out: ExecuteResult, step: number): string | undefined {
    const record = this.node?.peer.registry.deployments.get(out.deploymentId)?.record;
    const s = record?.steps?.[step];
    return s ? this.node?.peer.registry.modules.get(s.module)?.functions[s.func]?.result.mediaType : undefined;
  }

  #select(id: string): void {
    this.deployment = id;
    this.result = null;
    this.history = null;
    this.error = '';
  }

  async #run(e: Event, id: string, fn: FunctionDescription): Promise<void> {
    e.preventDefault();
    const node = this.node;
    if (!node) return;
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    const args: Record<string, string> = {};
    const files: Record<string, Uint8Array> = {};
    let input: Uint8Array | undefined;
    for (const p of fn.params) {
      const v = data.get(`param:${p.name}`);
      if (p.type === 'bytes' && v instanceof File && v.size > 0) input = new Uint8Array(await v.arrayBuffer());
      else if (typeof v === 'string') args[p.name] = v;
    }
    for (const m of fn.mounts.filter((x) => x.stage === 'execution')) {
      const v = data.get(`file:${m.name}`);
      if (v instanceof File && v.size > 0) files[m.name] = new Uint8Array(await v.arrayBuffer());
    }
    this.running = true;
    this.error = '';
    try {
      const out = await node.orchestrator.execute(id, { args, ...(Object.keys(files).length > 0 ? { files } : {}), ...(input ? { input } : {}) });
      this.#revoke();
      this.result = out;
      this.deployment = id;
      // The history refreshes in the background: the next run need not wait for it.
      void this.#loadHistory(id, this.historyPeer || out.steps[0]?.peer || '').catch(() => undefined);
    } catch (error) {
      this.error = `Run failed: ${(error as Error).message}`;
    } finally {
      this.running = false;
    }
  }

  async #loadHistory(id: string, peer: string): Promise<void> {
    if (!peer || !this.node) return;
    this.historyPeer = peer;
    this.historyError = '';
    try {
      this.history = await this.node.peer.call(peer, 'supervisor.history', { deploymentId: id, limit: 20 });
    } catch (error) {
      this.history = null;
      this.historyError = `Cannot read the history of ${this.#registry.deviceName(peer)}: ${(error as Error).message}`;
    }
  }

  #url(bytes: Uint8Array, type: string): string {
    let url = this.#urls.get(bytes);
    if (!url) this.#urls.set(bytes, (url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }))));
    return url;
  }

  #revoke(): void {
    for (const url of this.#urls.values()) URL.revokeObjectURL(url);
    this.#urls.clear();
  }
}
if (!customElements.get('lm-run-view')) customElements.define('lm-run-view', RunView);
