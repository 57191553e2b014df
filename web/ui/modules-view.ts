/**
 * `<lm-modules-view>`: publish a module from this device and browse what is published.
 * Choosing a .wasm shows its exports and imports at once (parsed here) and prefills a
 * description of each exported function from its signature; a description.json may be
 * loaded to fill the forms. Data files are picked per deployment-stage mount. Publishing
 * reads every file with a progress bar and stores the blobs in this peer; the record goes
 * to the shared registry. Every version is listed with its functions, exports and imports.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import type { FunctionDescription, ModuleRecord } from '../../shared/registry/schema.ts';
import { type ModuleInfo, parseModule } from '../../shared/wasm/binary.ts';
import { type MeshNode, RegistryController } from './controllers.ts';
import { formatBytes } from '../../shared/bytes.ts';
import { describableExports, describeFromSignature, shortId } from './format.ts';
import './function-form.ts';
import type { DescriptionChange } from './function-form.ts';
import { shared } from './styles.ts';

interface Draft {
  file: File;
  info: ModuleInfo;
  name: string;
  version: string;
  functions: Record<string, FunctionDescription>;
  /** Functions the user chose to describe (publish). */
  chosen: string[];
  dataFiles: Record<string, File>;
}

/** Read files as bytes, reporting bytes read over all of them. */
export async function readFiles(files: File[], onProgress: (loaded: number, total: number) => void): Promise<Uint8Array[]> {
  const total = files.reduce((n, f) => n + f.size, 0);
  let loaded = 0;
  const out: Uint8Array[] = [];
  for (const file of files) {
    const bytes = new Uint8Array(file.size);
    let at = 0;
    const reader = file.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes.set(value, at);
      at += value.byteLength;
      loaded += value.byteLength;
      onProgress(loaded, total);
    }
    out.push(bytes);
  }
  onProgress(total, total);
  return out;
}

/** Upload and browse modules. */
export class ModulesView extends LitElement {
  static override properties = { node: { attribute: false }, draft: { state: true }, progress: { state: true }, error: { state: true }, published: { state: true } };
  static override styles = [
    shared,
    css`
      .functions { display: grid; gap: 0.6rem; }
      .items { display: flex; flex-wrap: wrap; gap: 0.3rem; }
      .versions td:first-child { white-space: nowrap; }
    `,
  ];
  declare node: MeshNode | undefined;
  declare draft: Draft | null;
  declare progress: { label: string; loaded: number; total: number } | null;
  declare error: string;
  declare published: string;
  readonly #registry = new RegistryController(this, () => this.node, ['modules', 'deployments']);

  constructor() {
    super();
    this.node = undefined;
    this.draft = null;
    this.progress = null;
    this.error = '';
    this.published = '';
  }

  override render() {
    return html`<h2>Modules</h2>
      <section class="card stack upload" aria-label="Publish a module">
        <h3>Publish a module</h3>
        <div class="row">
          <label>WebAssembly binary <input type="file" name="wasm" accept=".wasm,application/wasm" @change=${this.#pickWasm} /></label>
          <label>description.json (optional) <input type="file" name="description" accept=".json,application/json" @change=${this.#pickDescription} ?disabled=${!this.draft} /></label>
        </div>
        ${this.draft ? this.#draftForm(this.draft) : html`<p class="muted small">Choose a .wasm file: its exports and imports show here, and a form describes each function.</p>`}
        ${this.progress ? html`<label class="stack small">${this.progress.label}<progress max=${this.progress.total || 1} value=${this.progress.loaded}></progress></label>` : nothing}
        ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
        ${this.published ? html`<div class="notice published" role="status">${this.published}</div>` : nothing}
      </section>
      <h3>Published</h3>
      ${this.#list()}`;
  }

  #draftForm(d: Draft) {
    const exported = d.info.exports.filter((e) => e.kind === 'function').map((e) => e.name);
    const mounts = [...new Set(d.chosen.flatMap((fn) => (d.functions[fn]?.mounts ?? []).filter((m) => m.stage === 'deployment').map((m) => m.name)))];
    return html`<div class="row">
        <label>Name <input name="name" .value=${d.name} @change=${(e: Event) => this.#patch({ name: (e.target as HTMLInputElement).value.trim() })} /></label>
        <label>Version <input name="version" .value=${d.version} @change=${(e: Event) => this.#patch({ version: (e.target as HTMLInputElement).value.trim() })} /></label>
        <span class="muted small">${formatBytes(d.file.size)}</span>
      </div>
      ${this.#items('Exports', d.info.exports.map((e) => `${e.name} (${e.kind})`))}
      ${this.#items('Imports', d.info.imports.map((i) => `${i.module}.${i.name}`))}
      <div class="functions">
        ${describableExports({ exports: d.info.exports }).map(
          (fn) => html`<div>
            <label><input type="checkbox" aria-label="Describe ${fn}" .checked=${d.chosen.includes(fn)} @change=${(e: Event) => this.#choose(fn, (e.target as HTMLInputElement).checked)} /> describe <code>${fn}</code></label>
            ${d.chosen.includes(fn)
              ? html`<lm-function-form .name=${fn} .value=${d.functions[fn]!} .exports=${exported} @description-change=${(e: CustomEvent<DescriptionChange>) => this.#patch({ functions: { ...d.functions, [e.detail.name]: e.detail.value } })}></lm-function-form>`
              : nothing}
          </div>`,
        )}
      </div>
      ${mounts.map(
        (m) => html`<label class="data-file">Data file for mount <code>${m}</code>
          <input type="file" aria-label="Data file ${m}" @change=${(e: Event) => {
            const file = (e.target as HTMLInputElement).files?.[0];
            if (file) this.#patch({ dataFiles: { ...d.dataFiles, [m]: file } });
          }} />${d.dataFiles[m] ? html`<span class="small muted">${d.dataFiles[m]!.name}</span>` : nothing}</label>`,
      )}
      <div><button class="publish" ?disabled=${!this.node || !!this.progress} @click=${() => void this.#publish()}>Publish</button></div>`;
  }

  #items(title: string, items: string[]) {
    return html`<div class="small"><span class="muted">${title}:</span>
      <span class="items ${title.toLowerCase()}">${items.length === 0 ? html`<span class="empty">none</span>` : items.map((i) => html`<span class="chip">${i}</span>`)}</span></div>`;
  }

  #list() {
    const byName = new Map<string, ModuleRecord[]>();
    for (const m of this.#registry.modules) byName.set(m.name, [...(byName.get(m.name) ?? []), m]);
    if (byName.size === 0) return html`<p class="empty">No module is published yet.</p>`;
    return html`<div class="grid">
      ${[...byName].map(([name, versions]) => {
        const newest = versions[0]!;
        return html`<article class="card stack module-card" aria-label="Module ${name}">
          <header class="row"><strong>${name}</strong><span class="badge">${versions.length} version${versions.length > 1 ? 's' : ''}</span></header>
          <table class="versions">
            <tr><th>Version</th><th>Size</th><th>Id</th><th>By</th><th></th></tr>
            ${versions.map(
              (v) => html`<tr>
                <td>${v.version}</td><td>${formatBytes(v.size)}</td><td><code title=${v.id}>${shortId(v.id)}</code></td><td>${this.#registry.deviceName(v.publishedBy)}</td>
                <td><button class="danger secondary" aria-label="Remove ${name}@${v.version}" @click=${() => void this.#remove(v)}>Remove</button></td>
              </tr>`,
            )}
          </table>
          ${Object.entries(newest.functions).map(
            ([fn, f]) => html`<div class="small function">
              <code>${f.method} ${fn}(${f.params.map((p) => `${p.name}: ${p.type}`).join(', ')}) → ${f.result.type}${f.result.mediaType ? ` (${f.result.mediaType})` : ''}</code>
              ${f.mounts.length > 0 ? html`<div class="muted">mounts: ${f.mounts.map((m) => `${m.name} [${m.stage}]`).join(', ')}</div>` : nothing}
            </div>`,
          )}
          ${this.#items('Exports', newest.exports.map((e) => e.name))}
          ${this.#items('Imports', newest.imports.map((i) => `${i.module}.${i.name}`))}
        </article>`;
      })}
    </div>`;
  }

  async #pickWasm(e: Event): Promise<void> {
    const file = (e.target as HTMLInputElement).files?.[0];
    this.error = '';
    this.published = '';
    if (!file) return;
    try {
      const info = parseModule(new Uint8Array(await file.arrayBuffer()));
      const functions: Record<string, FunctionDescription> = {};
      const chosen = describableExports({ exports: info.exports });
      for (const fn of chosen) functions[fn] = describeFromSignature(info.exports.find((x) => x.name === fn)?.type);
      this.draft = { file, info, name: file.name.replace(/\.wasm$/i, ''), version: '1.0.0', functions, chosen, dataFiles: {} };
    } catch (error) {
      this.draft = null;
      this.error = `${file.name} is not a WebAssembly module: ${(error as Error).message}`;
    }
  }

  async #pickDescription(e: Event): Promise<void> {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (!file || !this.draft) return;
    try {
      const d = JSON.parse(await file.text()) as Partial<ModuleDescription>;
      const functions = { ...this.draft.functions, ...(d.functions ?? {}) };
      this.#patch({ name: d.name ?? this.draft.name, version: d.version ?? this.draft.version, functions, chosen: Object.keys(d.functions ?? {}) });
      this.error = '';
    } catch (error) {
      this.error = `${file.name} is not a description: ${(error as Error).message}`;
    }
  }

  #choose(fn: string, on: boolean): void {
    const d = this.draft!;
    this.#patch({ chosen: on ? [...d.chosen, fn] : d.chosen.filter((x) => x !== fn) });
  }

  #patch(patch: Partial<Draft>): void {
    if (this.draft) this.draft = { ...this.draft, ...patch };
  }

  async #publish(): Promise<void> {
    const d = this.draft;
    const node = this.node;
    if (!d || !node) return;
    this.error = '';
    this.published = '';
    try {
      const mounts = Object.keys(d.dataFiles);
      const files = [d.file, ...mounts.map((m) => d.dataFiles[m]!)];
      this.progress = { label: 'Reading files…', loaded: 0, total: files.reduce((n, f) => n + f.size, 0) };
      const [wasm, ...data] = await readFiles(files, (loaded, total) => (this.progress = { label: 'Reading files…', loaded, total }));
      this.progress = { ...this.progress, label: 'Storing blobs and publishing…' };
      const functions = Object.fromEntries(d.chosen.map((fn) => [fn, d.functions[fn]!]));
      const dataFiles = Object.fromEntries(mounts.map((m, i) => [m, data[i]!]));
      const record = await node.orchestrator.packages.publish({ wasm: wasm!, description: { name: d.name, version: d.version, functions }, dataFiles });
      this.published = `Published ${record.name} ${record.version} (${shortId(record.id)}).`;
      this.draft = null;
      for (const input of Array.from(this.renderRoot.querySelectorAll<HTMLInputElement>('input[type=file]'))) input.value = '';
    } catch (error) {
      this.error = `Publishing failed: ${(error as Error).message}`;
    } finally {
      this.progress = null;
    }
  }

  async #remove(v: ModuleRecord): Promise<void> {
    this.error = '';
    try {
      await this.node?.orchestrator.packages.remove(v.id);
    } catch (error) {
      this.error = `Cannot remove ${v.name}@${v.version}: ${(error as Error).message}`;
    }
  }
}
if (!customElements.get('lm-modules-view')) customElements.define('lm-modules-view', ModulesView);
