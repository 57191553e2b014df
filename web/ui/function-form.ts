/**
 * `<lm-function-form>`: describes one exported function with form fields instead of raw
 * JSON — HTTP method, parameters (name and type), result (type and media type), mounts
 * (name, stage, media type), whether it keeps state between calls, and the in-place
 * buffer pointer getter. Controlled: it shows `value` and fires `description-change`
 * with the edited description; the parent keeps the state.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { FunctionDescription, MountDescription } from '../../shared/registry/schema.ts';
import { shared } from './styles.ts';

type ValueKind = FunctionDescription['result']['type'];
const VALUE_TYPES: ValueKind[] = ['integer', 'number', 'string', 'bytes', 'none'];
const METHODS: FunctionDescription['method'][] = ['GET', 'POST', 'PUT', 'DELETE'];
const STAGES: MountDescription['stage'][] = ['deployment', 'execution', 'output'];

/** Detail of the `description-change` event. */
export interface DescriptionChange {
  name: string;
  value: FunctionDescription;
}

/** Form for one function's description. */
export class FunctionForm extends LitElement {
  static override properties = { name: {}, value: { attribute: false }, exports: { attribute: false } };
  static override styles = [
    shared,
    css`
      fieldset { border: 1px solid #334155; border-radius: 0.5rem; padding: 0.6rem; margin: 0; }
      legend { padding: 0 0.3rem; }
      .list > div { display: flex; gap: 0.4rem; align-items: center; margin: 0.25rem 0; flex-wrap: wrap; }
      input.name { width: 9rem; }
      input.media { width: 10rem; }
    `,
  ];
  declare name: string;
  declare value: FunctionDescription;
  /** Exported function names (candidates for the pointer getter). */
  declare exports: string[];

  constructor() {
    super();
    this.name = '';
    this.value = { method: 'GET', params: [], result: { type: 'none' }, mounts: [] };
    this.exports = [];
  }

  override render() {
    const v = this.value;
    const fn = this.name;
    return html`<fieldset>
      <legend><code>${fn}</code></legend>
      <div class="row">
        <label>Method <select aria-label="${fn} method" @change=${(e: Event) => this.#edit({ method: sel(e) as FunctionDescription['method'] })}>
          ${METHODS.map((m) => html`<option ?selected=${m === v.method}>${m}</option>`)}
        </select></label>
        <label><input type="checkbox" aria-label="${fn} keeps state" .checked=${v.stateful !== false} @change=${(e: Event) => this.#edit({ stateful: (e.target as HTMLInputElement).checked })} /> keeps state between calls</label>
      </div>
      <h3 class="small">Parameters</h3>
      <div class="list params">
        ${v.params.length === 0 ? html`<span class="empty small">none</span>` : nothing}
        ${v.params.map(
          (p, i) => html`<div>
            <input class="name" aria-label="${fn} parameter ${i + 1} name" .value=${p.name} @change=${(e: Event) => this.#param(i, { name: val(e) })} />
            ${this.#typeSelect(`${fn} parameter ${i + 1} type`, p.type, (type) => this.#param(i, { type }))}
            <button class="secondary" aria-label="Remove ${fn} parameter ${i + 1}" @click=${() => this.#edit({ params: v.params.filter((_, j) => j !== i) })}>✕</button>
          </div>`,
        )}
        <button class="secondary" @click=${() => this.#edit({ params: [...v.params, { name: `param${v.params.length}`, type: 'integer' }] })}>Add parameter</button>
      </div>
      <h3 class="small">Result</h3>
      <div class="row">
        ${this.#typeSelect(`${fn} result type`, v.result.type, (type) => this.#edit({ result: { ...v.result, type } }))}
        <input class="media" placeholder="media type" aria-label="${fn} result media type" .value=${v.result.mediaType ?? ''} @change=${(e: Event) => this.#edit({ result: withMedia(v.result, val(e)) })} />
      </div>
      <h3 class="small">Mounts (files)</h3>
      <div class="list mounts">
        ${v.mounts.length === 0 ? html`<span class="empty small">none</span>` : nothing}
        ${v.mounts.map(
          (m, i) => html`<div>
            <input class="name" aria-label="${fn} mount ${i + 1} name" .value=${m.name} @change=${(e: Event) => this.#mount(i, { name: val(e) })} />
            <select aria-label="${fn} mount ${i + 1} stage" @change=${(e: Event) => this.#mount(i, { stage: sel(e) as MountDescription['stage'] })}>
              ${STAGES.map((s) => html`<option ?selected=${s === m.stage}>${s}</option>`)}
            </select>
            <input class="media" placeholder="media type" aria-label="${fn} mount ${i + 1} media type" .value=${m.mediaType ?? ''} @change=${(e: Event) => this.#mount(i, withMedia(m, val(e)))} />
            <button class="secondary" aria-label="Remove ${fn} mount ${i + 1}" @click=${() => this.#edit({ mounts: v.mounts.filter((_, j) => j !== i) })}>✕</button>
          </div>`,
        )}
        <button class="secondary" @click=${() => this.#edit({ mounts: [...v.mounts, { name: `file${v.mounts.length}`, stage: 'execution' }] })}>Add mount</button>
      </div>
      ${v.params.some((p) => p.type === 'bytes') || v.result.type === 'bytes'
        ? html`<label class="small">In-place buffer pointer getter
            <select aria-label="${fn} pointer getter" @change=${(e: Event) => this.#edit({ pointer: sel(e) || undefined })}>
              <option value="" ?selected=${!v.pointer}>none (alloc + pointers)</option>
              ${this.exports.filter((x) => x !== fn).map((x) => html`<option ?selected=${x === v.pointer}>${x}</option>`)}
            </select></label>`
        : nothing}
    </fieldset>`;
  }

  #typeSelect(label: string, current: ValueKind, set: (type: ValueKind) => void) {
    return html`<select aria-label=${label} @change=${(e: Event) => set(sel(e) as ValueKind)}>
      ${VALUE_TYPES.map((t) => html`<option ?selected=${t === current}>${t}</option>`)}
    </select>`;
  }

  #param(i: number, patch: Partial<FunctionDescription['params'][number]>): void {
    this.#edit({ params: this.value.params.map((p, j) => (j === i ? { ...p, ...patch } : p)) });
  }

  #mount(i: number, patch: Partial<MountDescription>): void {
    this.#edit({ mounts: this.value.mounts.map((m, j) => (j === i ? { ...m, ...patch } : m)) });
  }

  #edit(patch: Partial<FunctionDescription>): void {
    const next: FunctionDescription = { ...this.value, ...patch };
    for (const key of Object.keys(next) as (keyof FunctionDescription)[]) if (next[key] === undefined) delete next[key];
    this.value = next;
    this.dispatchEvent(new CustomEvent<DescriptionChange>('description-change', { detail: { name: this.name, value: next }, bubbles: true, composed: true }));
  }
}

function val(e: Event): string {
  return (e.target as HTMLInputElement).value.trim();
}

function sel(e: Event): string {
  return (e.target as HTMLSelectElement).value;
}

function withMedia<T extends { mediaType?: string }>(item: T, mediaType: string): T {
  const { mediaType: _old, ...rest } = item;
  return (mediaType ? { ...rest, mediaType } : rest) as T;
}
if (!customElements.get('lm-function-form')) customElements.define('lm-function-form', FunctionForm);
