/**
 * `<lm-deployments-view>`: compose a sequence — or, with "graph", any DAG where a step's
 * output goes to several later steps — by picking module functions and devices (or
 * "auto" to let placement choose), deploy it, and follow every deployment live: each
 * step's phase on its device, redeploy, update and delete; a failed or rolled-back
 * deployment shows its reason, and every deployment its placement explanation (which
 * device each step went to and why the others were refused). When the mesh has ODRL cards
 * of zones and risk levels, every deployment shows its certificate: valid or not, with
 * each step's zone, risks and reasons (shared/orchestrator/policy.ts, computed from the
 * registry like the gateway's `/deploymentCertificates`).
 */
import { css, html, LitElement, nothing } from 'lit';
import type { StepPlacement } from '../../shared/orchestrator/placement.ts';
import type { DeploymentView } from '../../shared/registry/registry.ts';
import { type MeshNode, RegistryController } from './controllers.ts';
import { shortId } from './format.ts';
import { shared } from './styles.ts';

interface DraftStep {
  module: string;
  func: string;
  /** Peer id, or '' for automatic placement. */
  device: string;
  /** Graph mode: indices of the later steps that receive this step's output. */
  next: number[];
}

const EMPTY_STEP: DraftStep = { module: '', func: '', device: '', next: [] };

/** Fired (bubbling) to open the run view on a deployment; detail = deployment id. */
export const RUN_EVENT = 'lm-run';

/** Compose, deploy and follow deployments. */
export class DeploymentsView extends LitElement {
  static override properties = { node: { attribute: false }, name: { state: true }, steps: { state: true }, graph: { state: true }, antiAffinity: { state: true }, error: { state: true }, notice: { state: true } };
  static override styles = [
    shared,
    css`
      .compose .step { display: flex; gap: 0.4rem; align-items: center; flex-wrap: wrap; margin: 0.3rem 0; }
      .deployment header { display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; }
      .deployment header .actions { margin-left: auto; display: flex; gap: 0.3rem; flex-wrap: wrap; }
      .compose .step select { flex: 1 1 8rem; min-width: 0; }
      .compose input[name=deployment-name] { max-width: 100%; min-width: 0; }
      .compose label { flex-wrap: wrap; }
      details summary { cursor: pointer; color: #94a3b8; font-size: 0.85rem; }
      ul.verdicts, ul.validation { margin: 0.2rem 0 0.5rem; padding-left: 1rem; font-size: 0.8rem; overflow-wrap: anywhere; }
      .certificate .badge.valid { background: #166534; }
      .certificate .badge.invalid { background: #991b1b; }
    `,
  ];
  declare node: MeshNode | undefined;
  declare name: string;
  declare steps: DraftStep[];
  declare antiAffinity: boolean;
  declare graph: boolean;
  declare error: string;
  declare notice: string;
  readonly #registry = new RegistryController(this, () => this.node);

  constructor() {
    super();
    this.node = undefined;
    this.name = '';
    this.steps = [{ ...EMPTY_STEP }];
    this.antiAffinity = false;
    this.graph = false;
    this.error = '';
    this.notice = '';
  }

  override render() {
    const deployments = this.#registry.deployments;
    return html`<h2>Deployments</h2>
      ${this.#compose()}
      ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
      ${this.notice ? html`<div class="notice" role="status">${this.notice}</div>` : nothing}
      <div class="stack list">
        ${deployments.length === 0 ? html`<p class="empty">No deployment yet.</p>` : deployments.map((d) => this.#deployment(d))}
      </div>`;
  }

  #compose() {
    const modules = this.#registry.modules;
    const names = [...new Set(modules.map((m) => m.name))];
    const devices = this.#registry.devices;
    return html`<section class="card compose" aria-label="Compose a deployment">
      <h3>New deployment</h3>
      <label>Name <input name="deployment-name" .value=${this.name} @input=${(e: Event) => (this.name = (e.target as HTMLInputElement).value)} /></label>
      ${this.steps.map((s, i) => {
        const record = modules.find((m) => m.name === s.module);
        return html`<div class="step">
          <span class="muted">${i + 1}.</span>
          <select aria-label="Step ${i + 1} module" @change=${(e: Event) => this.#step(i, { module: (e.target as HTMLSelectElement).value, func: '' })}>
            <option value="" ?selected=${!s.module}>module…</option>
            ${names.map((n) => html`<option ?selected=${n === s.module}>${n}</option>`)}
          </select>
          <select aria-label="Step ${i + 1} function" ?disabled=${!record} @change=${(e: Event) => this.#step(i, { func: (e.target as HTMLSelectElement).value })}>
            <option value="" ?selected=${!s.func}>function…</option>
            ${Object.keys(record?.functions ?? {}).map((f) => html`<option ?selected=${f === s.func}>${f}</option>`)}
          </select>
          <select aria-label="Step ${i + 1} device" @change=${(e: Event) => this.#step(i, { device: (e.target as HTMLSelectElement).value })}>
            <option value="" ?selected=${!s.device}>auto</option>
            ${devices.map((d) => html`<option value=${d.id} ?selected=${d.id === s.device}>${d.name}${this.#registry.isAlive(d.id) ? '' : ' (offline)'}</option>`)}
          </select>
          ${this.graph && i < this.steps.length - 1
            ? html`<span class="muted small" role="group" aria-label="Step ${i + 1} sends its output to">→ ${this.steps.map((_, j) =>
                j > i ? html`<label class="small"><input type="checkbox" aria-label="Step ${i + 1} then step ${j + 1}" .checked=${s.next.includes(j)} @change=${(e: Event) => this.#link(i, j, (e.target as HTMLInputElement).checked)} />${j + 1}</label> ` : nothing)}</span>`
            : nothing}
          ${this.steps.length > 1 ? html`<button class="secondary" aria-label="Remove step ${i + 1}" @click=${() => this.#remove(i)}>✕</button>` : nothing}
        </div>`;
      })}
      <div class="row">
        <button class="secondary" @click=${this.#add}>Add step</button>
        <label><input type="checkbox" name="graph" .checked=${this.graph} @change=${(e: Event) => this.#setGraph((e.target as HTMLInputElement).checked)} /> graph (fan-out)</label>
        <label><input type="checkbox" .checked=${this.antiAffinity} @change=${(e: Event) => (this.antiAffinity = (e.target as HTMLInputElement).checked)} /> spread steps over devices</label>
        <button class="deploy" ?disabled=${!this.node} @click=${this.#deploy}>Deploy</button>
      </div>
    </section>`;
  }

  #deployment({ record: r, phases }: DeploymentView) {
    const explanation = (r.explanation ?? {}) as Record<string, StepPlacement>;
    return html`<article class="card deployment stack" aria-label="Deployment ${r.name}" data-id=${r.id}>
      <header>
        <strong>${r.name}</strong>
        <span class="badge status ${r.status}">${r.status}</span>
        <span class="muted small">revision ${r.revision} · coordinated by ${this.#registry.deviceName(r.coordinator)} · <code>${shortId(r.id)}</code></span>
        <span class="actions">
          <button aria-label="Run ${r.name}" ?disabled=${r.status === 'failed'} @click=${() => this.dispatchEvent(new CustomEvent(RUN_EVENT, { detail: r.id, bubbles: true, composed: true }))}>Run</button>
          <button class="secondary" aria-label="Update ${r.name}" @click=${() => this.#act('update', r.id, r.name)}>Update</button>
          <button class="secondary" aria-label="Redeploy ${r.name}" @click=${() => this.#act('redeploy', r.id, r.name)}>Redeploy</button>
          <button class="danger" aria-label="Delete ${r.name}" @click=${() => this.#act('remove', r.id, r.name)}>Delete</button>
        </span>
      </header>
      ${r.reason && (r.status === 'failed' || r.status === 'rolled-back') ? html`<div class="error reason">${r.status === 'failed' ? 'Failed' : 'Rolled back'}: ${r.reason}</div>` : nothing}
      <table class="steps stack-narrow">
        <tr><th>#</th><th>Function</th><th>Then</th><th>Device</th><th>Phase</th></tr>
        ${(r.steps ?? []).map((s, i) => {
          const peer = r.solution[String(i)];
          const phase = peer ? phases[`${i}/${peer}`] : undefined;
          const current = phase && phase.revision === r.revision ? phase : undefined;
          return html`<tr>
            <td data-label="Step">${i + 1}</td>
            <td data-label="Function"><code>${s.name}.${s.func}</code></td>
            <td class="small" data-label="Then">${s.next.length > 0 ? s.next.map((n) => n + 1).join(', ') : html`<span class="muted">result</span>`}</td>
            <td data-label="Device">${peer ? this.#registry.deviceName(peer) : html`<span class="empty">unplaced</span>`}${s.pin ? html` <span class="muted small">(pinned)</span>` : nothing}</td>
            <td data-label="Phase">${current ? html`<span class="badge phase ${current.phase}">${current.phase}</span>${current.reason ? html` <span class="small">${current.reason}</span>` : nothing}` : html`<span class="muted small">waiting</span>`}</td>
          </tr>`;
        })}
      </table>
      ${this.#certificate(r)}
      <details class="explanation">
        <summary>Placement explanation</summary>
        ${Object.entries(explanation).map(
          ([step, p]) => html`<div class="small">Step ${Number(step) + 1} → <strong>${this.#registry.deviceName(p.peer)}</strong>
            <ul class="verdicts">
              ${(p.verdicts ?? []).map(
                (v) => html`<li><span class="badge ${v.accepted ? 'accepted' : 'rejected'}">${v.accepted ? `score ${v.score?.toFixed(1) ?? '?'}` : 'refused'}</span> ${v.name}: ${v.reasons.join('; ')}</li>`,
              )}
            </ul>
          </div>`,
        )}
      </details>
    </article>`;
  }

  /** The deployment's certificate, when the mesh uses zone cards and the deployment has steps. */
  #certificate(r: DeploymentView['record']) {
    const c = this.#registry.hasCards ? this.#registry.certificateOf(r) : null;
    if (!c) return nothing;
    const risk = (label: string, v: string | null): string => (v === null ? '' : ` · ${label} ${v}`);
    return html`<details class="certificate" aria-label="Certificate of ${r.name}">
      <summary>Certificate <span class="badge ${c.valid ? 'valid' : 'invalid'}">${c.valid ? 'valid' : 'not valid'}</span></summary>
      <ul class="validation">
        ${c.validationLogs.map((l) => html`<li class="${l.valid ? 'valid' : 'invalid'}">Step ${l.step + 1} on ${l.device ? this.#registry.deviceName(l.device) : 'no device'}: ${l.valid ? 'valid' : l.reasons.join('; ')}${l.node_zone === null ? '' : ` · zone ${l.node_zone}`}${risk('module risk', l.module_risk)}${risk('input', l.input_risk)}${risk('output', l.output_risk)}</li>`)}
      </ul>
    </details>`;
  }

  #add = (): void => {
    const last = this.steps.length - 1;
    // In a sequence each step feeds the next; in a graph the new step starts unlinked.
    this.steps = [...this.steps.map((s, j) => (j === last && !this.graph ? { ...s, next: [last + 1] } : s)), { ...EMPTY_STEP }];
  };

  #remove(i: number): void {
    this.steps = this.steps.filter((_, j) => j !== i).map((s) => ({ ...s, next: s.next.filter((n) => n !== i).map((n) => (n > i ? n - 1 : n)) }));
  }

  #link(from: number, to: number, on: boolean): void {
    this.#step(from, { next: on ? [...new Set([...this.steps[from]!.next, to])].sort((a, b) => a - b) : this.steps[from]!.next.filter((n) => n !== to) });
  }

  /** Switching to a graph keeps the chain as links; switching back makes a plain sequence. */
  #setGraph(on: boolean): void {
    this.graph = on;
    this.steps = this.steps.map((s, i) => ({ ...s, next: on || i === this.steps.length - 1 ? s.next : [i + 1] }));
  }

  #step(i: number, patch: Partial<DraftStep>): void {
    this.steps = this.steps.map((s, j) => (j === i ? { ...s, ...patch } : s));
  }

  #deploy(): void {
    const node = this.node;
    if (!node) return;
    this.error = '';
    this.notice = '';
    const steps = this.steps;
    if (steps.some((s) => !s.module || !s.func)) {
      this.error = 'Pick a module and a function for every step.';
      return;
    }
    const name = this.name.trim() || steps.map((s) => s.module).join('-');
    try {
      const spread = this.antiAffinity ? { antiAffinity: true } : {};
      const pick = (s: DraftStep): { module: string; func: string; device?: string } => ({ module: s.module, func: s.func, ...(s.device ? { device: s.device } : {}) });
      const manifest = this.graph
        ? { name, ...spread, entry: 's1', steps: steps.map((s, i) => ({ id: `s${i + 1}`, ...pick(s), next: s.next.map((n) => `s${n + 1}`) })) }
        : { name, ...spread, sequence: steps.map(pick) };
      const record = node.orchestrator.deploy(manifest);
      this.notice = `Created ${record.name}: its steps and their phases show below.`;
      this.name = '';
      this.steps = [{ ...EMPTY_STEP }];
    } catch (error) {
      this.error = `Cannot deploy ${name}: ${withCode(error)}`;
    }
  }

  #act(action: 'update' | 'redeploy' | 'remove', id: string, name: string): void {
    this.error = '';
    this.notice = '';
    try {
      const o = this.node!.orchestrator;
      if (action === 'update') o.update(id);
      else if (action === 'redeploy') o.redeploy(id);
      else o.remove(id);
      this.notice = action === 'remove' ? `Deleted ${name}.` : `${action === 'update' ? 'Updating' : 'Redeploying'} ${name}…`;
    } catch (error) {
      this.error = `Cannot ${action === 'remove' ? 'delete' : action} ${name}: ${withCode(error)}`;
    }
  }
}
if (!customElements.get('lm-deployments-view')) customElements.define('lm-deployments-view', DeploymentsView);

/** An error's message with its stable code (ERR_WRITE_FORBIDDEN for a `device` deploying), which the user can look up. */
function withCode(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}
