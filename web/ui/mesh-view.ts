/**
 * `<lm-mesh-view>`: every device of the registry as a card — name, engine, platform,
 * capabilities, its zone (from its node card, when the mesh has zone cards), live
 * telemetry as sparklines, and the modules the registry places on it as chips. A chip dragged onto another device (HTML5 drag and drop with a mouse; pointer
 * events with a finger or pen, web/ui/touch-drag.ts), or sent there with its
 * keyboard-operable "Move to…" menu (a thumb-sized target on touch screens), is
 * live-migrated when this peer's orchestrator can migrate; the move's progress and
 * outcome show in a live region. In a mesh with roles each card shows the device's role,
 * and an owner's page has a "Revoke" button per member (web/ui/membership.ts).
 */
import { css, html, LitElement, nothing } from 'lit';
import type { DeviceDescription } from '../../shared/registry/schema.ts';
import { type MeshNode, RegistryController, TelemetryController } from './controllers.ts';
import { formatBytes } from '../../shared/bytes.ts';
import { capabilityGroups, engineLabel, offerSummary, formatMs, migrationOf, modulesOn, type PlacedModule } from './format.ts';
import './sparkline.ts';
import { shared } from './styles.ts';
import { TouchDrag } from './touch-drag.ts';
import { membershipOf, membershipText, ownerPeerOf, revokedMembers, roleOfDevice } from './membership.ts';
import type {} from '../../shared/mesh/owner-service.ts';

/** What a live migration reports (the orchestrator's `migrate`). */
export interface MigrationOutcome {
  deploymentId: string;
  module: string;
  from: string;
  to: string;
  mode: 'move' | 'clone';
  durationMs: number;
}

/** An orchestrator that can live-migrate a deployment's module to another device. */
export interface Migrator {
  migrate(deployment: string, module: string, device: string, options?: { mode?: 'move' | 'clone' }): Promise<MigrationOutcome>;
}

/** The node's migrator, or null when its orchestrator has no `migrate` (capability check). */
export function migratorOf(node: MeshNode | undefined): Migrator | null {
  const orchestrator = node?.orchestrator as unknown as Partial<Migrator> | undefined;
  return orchestrator && typeof orchestrator.migrate === 'function' ? (orchestrator as Migrator) : null;
}

/** Media type of a dragged module chip. */
export const CHIP_TYPE = 'application/x-liquidmesh-module';

interface Move {
  key: string;
  deploymentId: string;
  module: string;
  state: 'moving' | 'done' | 'failed';
  text: string;
}

/** The mesh: devices, telemetry, placed modules, migration by drag and drop or menu. */
export class MeshView extends LitElement {
  static override properties = { node: { attribute: false }, moves: { state: true }, dropTarget: { state: true }, revocation: { state: true } };
  static override styles = [
    shared,
    css`
      .device { display: flex; flex-direction: column; gap: 0.5rem; transition: outline-color 0.1s; outline: 2px solid transparent; }
      .device.self { border-color: #38bdf8; }
      .device.gone { opacity: 0.6; }
      .device.drop-target { outline-color: #22c55e; }
      header { display: flex; gap: 0.5rem; align-items: center; }
      header strong { font-size: 1.05rem; }
      .spark { display: flex; gap: 0.75rem; }
      .module { cursor: grab; background: #1d4ed8; flex-wrap: wrap; max-width: 100%; }
      .module[draggable='true'] { touch-action: none; }
      header { flex-wrap: wrap; }
      header .engine { overflow-wrap: anywhere; }
      .spark { flex-wrap: wrap; }
      @media (pointer: coarse), (max-width: 480px) {
        .module { padding: 0.3rem 0.3rem 0.3rem 0.8rem; font-size: 0.9rem; }
        .module select { min-height: 44px; min-width: 44px; font-size: 0.9rem; padding: 0 0.5rem; border-radius: 999px; }
      }
      .module.moving { background: #854d0e; }
      .module select { padding: 0 0.2rem; font-size: 0.75rem; border: none; background: #1e3a8a; }
      .caps .chip { background: #0f172a; border: 1px solid #334155; }
      .badge.zone { background: #134e4a; overflow-wrap: anywhere; }
    `,
  ];
  declare node: MeshNode | undefined;
  declare moves: Move[];
  declare dropTarget: string | null;
  /** The outcome of the last revocation asked from this page. */
  declare revocation: { ok: boolean; text: string } | null;
  readonly #registry = new RegistryController(this, () => this.node);
  readonly #telemetry = new TelemetryController(this, () => this.node);
  readonly #touch = new TouchDrag<{ deploymentId: string; module: string; from: string }>(this, {
    targetAt: (x, y) => {
      const el = this.renderRoot instanceof ShadowRoot ? this.renderRoot.elementFromPoint(x, y) : null;
      const card = el?.closest<HTMLElement>('article.device');
      const peer = card?.dataset.peer ?? null;
      return peer && this.#registry.isAlive(peer) ? peer : null;
    },
    over: (target, chip) => (this.dropTarget = target && target !== chip.from ? target : null),
    drop: (target, chip) => {
      if (target !== chip.from) void this.move(chip.deploymentId, chip.module, chip.from, target);
    },
  });

  constructor() {
    super();
    this.node = undefined;
    this.moves = [];
    this.dropTarget = null;
    this.revocation = null;
  }

  override render() {
    const devices = this.#registry.devices;
    if (!this.node) return html`<p class="muted">Starting…</p>`;
    const deployments = this.#registry.deployments;
    const canMigrate = migratorOf(this.node) !== null;
    const name = (id: string): string => this.#registry.deviceName(id);
    // Migrations under way anywhere in the mesh (the source peer writes their phase).
    const running = deployments.flatMap(({ record }) => {
      const m = migrationOf(record);
      return m && (m.phase === 'preparing' || m.phase === 'transferring') && !this.moves.some((x) => x.key === `${record.id}/${m.module}` && x.state === 'moving') ? [{ record, m }] : [];
    });
    const membership = membershipOf(this.node);
    const owner = membership.roles && membership.role === 'owner';
    // Revoked members stay listed, marked: their records no longer count, their names should not vanish.
    const revoked = new Map(revokedMembers(this.node).map((m) => [m.id, m]));
    return html`<h2>Mesh</h2>
      ${membership.roles ? html`<p class="small membership ${membership.role === undefined ? 'error' : ''}">${membershipText(membership)}</p>` : nothing}
      <div role="status" aria-live="polite" class="stack">
        ${this.revocation ? html`<div class="${this.revocation.ok ? 'notice' : 'error'} revocation">${this.revocation.text}</div>` : nothing}
        ${this.moves.map((m) => html`<div class="${m.state === 'failed' ? 'error' : 'notice'} move ${m.state}">${m.text}${m.state === 'moving' ? this.#phase(m.deploymentId, m.module) : nothing}</div>`)}
        ${running.map(({ record, m }) => html`<div class="notice move remote">${m.mode === 'clone' ? 'Cloning' : 'Moving'} ${m.module} of ${record.name} from ${name(m.from)} to ${name(m.to)}: ${m.phase}…</div>`)}
      </div>
      ${canMigrate ? nothing : html`<p class="muted small">Live migration is not available on this peer: modules cannot be moved yet.</p>`}
      <div class="grid">
        ${devices.map((d) => this.#card(d, modulesOn(d.id, deployments), devices, canMigrate, owner, revoked.has(d.id)))}
        ${[...revoked.values()].filter((m) => !devices.some((d) => d.id === m.id)).map((m) => this.#revokedCard(m.id, m.name))}
      </div>`;
  }

  /** A revoked member whose description no longer counts: its claimed name and the mark. */
  #revokedCard(id: string, name: string) {
    return html`<article class="card device gone revoked" data-peer=${id} aria-label="Device ${name || id.slice(0, 8)}, revoked">
      <header>
        <span class="dot" title="revoked"></span>
        <strong class="name">${name || id.slice(0, 8)}</strong>
        <span class="badge role revoked">revoked</span>
      </header>
      <div class="muted small">An owner revoked this member: every device has cut it off.</div>
    </article>`;
  }

  #card(d: DeviceDescription, placed: PlacedModule[], devices: DeviceDescription[], canMigrate: boolean, owner: boolean, revoked = false) {
    const self = d.id === this.#registry.self;
    const alive = this.#registry.isAlive(d.id);
    const t = this.#telemetry.of(d.id);
    const targets = devices.filter((o) => o.id !== d.id && this.#registry.isAlive(o.id));
    const zone = this.#registry.zoneOf(d.id);
    return html`<article
      class="card device ${self ? 'self' : ''} ${alive ? '' : 'gone'} ${this.dropTarget === d.id ? 'drop-target' : ''}"
      data-peer=${d.id}
      aria-label="Device ${d.name}"
      @dragover=${(e: DragEvent) => this.#dragOver(e, d.id, alive)}
      @dragleave=${() => (this.dropTarget = null)}
      @drop=${(e: DragEvent) => this.#drop(e, d.id)}
    >
      <header>
        <span class="dot ${alive ? 'alive' : ''}" title=${alive ? 'alive' : 'not heard from'}></span>
        <strong class="name">${d.name}</strong>${self ? html`<span class="muted small">(this device)</span>` : nothing}
        <span class="badge engine">${engineLabel(d.engine, d.browser)}</span>
        ${zone === undefined ? nothing : html`<span class="badge zone zone-${zone}" title="Zone from ${d.name}'s node card">zone ${zone}</span>`}
        ${revoked ? html`<span class="badge role revoked">revoked</span>` : ((role) => (role ? html`<span class="badge role">${role}</span>` : nothing))(roleOfDevice(this.node, d.id))}
        ${owner && !self && !revoked && roleOfDevice(this.node, d.id) !== undefined && roleOfDevice(this.node, d.id) !== 'owner'
          ? html`<button class="secondary revoke" aria-label="Revoke ${d.name}" @click=${() => void this.revoke(d.id)}>Revoke</button>`
          : nothing}
      </header>
      <div class="muted small platform">${d.platform.cpu.humanReadableName} · ${d.platform.cpu.cores} cores${d.platform.memory.bytes > 0 ? html` · ${formatBytes(d.platform.memory.bytes)}` : nothing}</div>
      <div class="row caps" aria-label="Capabilities">
        ${capabilityGroups(d).map((c) => html`<span class="chip" title="${c.count} host imports${c.simulated ? ', simulated' : ''}">${c.name}${c.simulated ? ' (simulated)' : ''}</span>`)}
      </div>
      <div class="muted small offers" aria-label="Offers">${((o) => (o.length === 0 ? 'Offers no camera or sensors to the mesh' : `Offers ${o.join('; ')}`))(offerSummary(d))}</div>
      ${alive
        ? html`<div class="spark">
            <lm-sparkline label="cpu" .values=${t.cpu}></lm-sparkline>
            <lm-sparkline label="memory" .values=${t.memory}></lm-sparkline>
            <lm-sparkline label="calls/s" unit="" .max=${0} .values=${t.calls}></lm-sparkline>
          </div>`
        : html`<div class="muted small">offline — last started ${new Date(d.startedAt).toLocaleString()}</div>`}
      <div class="row modules" aria-label="Modules on ${d.name}">
        ${placed.length === 0 ? html`<span class="empty small">no modules</span>` : nothing}
        ${placed.map((m) => this.#chip(m, d, targets, canMigrate))}
      </div>
    </article>`;
  }

  #chip(m: PlacedModule, device: DeviceDescription, targets: DeviceDescription[], canMigrate: boolean) {
    const key = `${m.deploymentId}/${m.module}`;
    const record = this.node?.peer.registry.deployments.get(m.deploymentId)?.record;
    const phase = record ? migrationOf(record)?.phase : undefined;
    const moving = this.moves.some((x) => x.key === key && x.state === 'moving') || phase === 'preparing' || phase === 'transferring';
    return html`<span
      class="chip module ${moving ? 'moving' : ''}"
      draggable=${canMigrate && !moving && !m.replica ? 'true' : 'false'}
      data-deployment=${m.deploymentId}
      data-module=${m.module}
      title="${m.deploymentName}: ${m.module}.${m.func} (${m.status}${m.replica ? ', clone' : ''})"
      @dragstart=${(e: DragEvent) => {
        // A finger drag is already followed with pointer events.
        if (this.#touch.dragging) return e.preventDefault();
        e.dataTransfer?.setData(CHIP_TYPE, JSON.stringify({ deploymentId: m.deploymentId, module: m.module, from: device.id }));
      }}
      @pointerdown=${(e: PointerEvent) => {
        if (canMigrate && !moving && !m.replica && !(e.target instanceof HTMLSelectElement)) this.#touch.press(e, { deploymentId: m.deploymentId, module: m.module, from: device.id }, m.module);
      }}
    >
      ${m.module} <span class="small muted">${m.deploymentName}${m.replica ? ' · clone' : ''}</span>
      ${canMigrate && targets.length > 0 && !m.replica
        ? html`<select
            class="move-to"
            aria-label="Move ${m.module} of ${m.deploymentName} to…"
            ?disabled=${moving}
            @change=${(e: Event) => {
              const select = e.target as HTMLSelectElement;
              const to = select.value;
              select.value = '';
              if (to) void this.move(m.deploymentId, m.module, device.id, to);
            }}
          >
            <option value="">Move to…</option>
            ${targets.map((t) => html`<option value=${t.id}>${t.name}</option>`)}
          </select>`
        : nothing}
    </span>`;
  }

  /** The phase the source peer wrote for the migration of `module` of `deploymentId`, if under way. */
  #phase(deploymentId: string, module: string) {
    const record = this.node?.peer.registry.deployments.get(deploymentId)?.record;
    const m = record ? migrationOf(record) : undefined;
    return m && m.module === module && (m.phase === 'preparing' || m.phase === 'transferring') ? html` <span class="badge ${m.phase === 'preparing' ? 'loading' : 'fetching'}">${m.phase}</span>` : nothing;
  }

  #dragOver(e: DragEvent, target: string, alive: boolean): void {
    if (!alive || !e.dataTransfer?.types.includes(CHIP_TYPE) || !migratorOf(this.node)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
    this.dropTarget = target;
  }

  #drop(e: DragEvent, target: string): void {
    this.dropTarget = null;
    const raw = e.dataTransfer?.getData(CHIP_TYPE);
    if (!raw) return;
    e.preventDefault();
    const chip = JSON.parse(raw) as { deploymentId: string; module: string; from: string };
    if (chip.from !== target) void this.move(chip.deploymentId, chip.module, chip.from, target);
  }

  /** An owner revokes device `id`: the peer holding the owner key signs it; every peer cuts the device off. */
  async revoke(id: string): Promise<void> {
    const name = this.#registry.deviceName(id);
    const maker = ownerPeerOf(this.node);
    if (!this.node || !maker) {
      this.revocation = { ok: false, text: `Cannot revoke ${name}: the peer holding the owner key is not reachable.` };
      return;
    }
    try {
      await this.node.peer.call(maker, 'trust.revoke', { member: id });
      this.revocation = { ok: true, text: `Revoked ${name}: every device disconnects it.` };
    } catch (error) {
      this.revocation = { ok: false, text: `Revoking ${name} failed: ${(error as Error).message} (${String((error as { code?: unknown }).code ?? 'ERR_INTERNAL')})` };
    }
  }

  /** Live-migrate `module` of `deploymentId` from `from` to `to`, showing progress and outcome. */
  async move(deploymentId: string, module: string, from: string, to: string): Promise<void> {
    const migrator = migratorOf(this.node);
    const key = `${deploymentId}/${module}`;
    const name = (id: string): string => this.#registry.deviceName(id);
    const set = (state: Move['state'], text: string): void => {
      this.moves = [...this.moves.filter((m) => m.key !== key), { key, deploymentId, module, state, text }].slice(-4);
    };
    if (!migrator) {
      set('failed', `Cannot move ${module}: live migration is not available on this peer.`);
      return;
    }
    set('moving', `Moving ${module} from ${name(from)} to ${name(to)}…`);
    try {
      const outcome = await migrator.migrate(deploymentId, module, to, { mode: 'move' });
      set('done', `Moved ${module} from ${name(outcome.from)} to ${name(outcome.to)} in ${formatMs(outcome.durationMs)}.`);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      set('failed', `Moving ${module} to ${name(to)} failed: ${(error as Error).message}${typeof code === 'string' && !(error as Error).message.includes(code) ? ` (${code})` : ''}`);
    }
  }
}
if (!customElements.get('lm-mesh-view')) customElements.define('lm-mesh-view', MeshView);
