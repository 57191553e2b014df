/**
 * How mesh state reaches the Lit components: ReactiveControllers over the registry,
 * presence and the browser's connectivity. A component adds a controller and reads from
 * it in `render()`; the controller re-renders its host when what it watches changes and
 * lets go of every subscription when the host leaves the page.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { Unsubscribe } from '../../shared/events.ts';
import { certificate, type DeploymentCertificate, type PolicyCards, policyCards } from '../../shared/orchestrator/policy.ts';
import type { Telemetry } from '../../shared/registry/presence.ts';
import type { DeploymentView, RegistryMapName } from '../../shared/registry/registry.ts';
import type { DeviceDescription, ModuleRecord } from '../../shared/registry/schema.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import type { LinkState } from '../../shared/adapters/resilient-transport.ts';

/** What every view is given: the peer running in this page. */
export type MeshNode = SupervisedPeer;

/** Resubscribes when the host's node changes; unsubscribes when the host disconnects. */
abstract class NodeController implements ReactiveController {
  protected readonly host: ReactiveControllerHost;
  readonly #node: () => MeshNode | undefined;
  #current: MeshNode | undefined;
  #offs: Unsubscribe[] = [];
  #connected = false;

  constructor(host: ReactiveControllerHost, node: () => MeshNode | undefined) {
    this.host = host;
    this.#node = node;
    host.addController(this);
  }

  /** The node subscribed to, if any. */
  get node(): MeshNode | undefined {
    return this.#current;
  }

  hostConnected(): void {
    this.#connected = true;
    this.#sync();
  }

  hostUpdate(): void {
    this.#sync();
  }

  hostDisconnected(): void {
    this.#connected = false;
    this.#drop();
  }

  /** Subscriptions for `node`; returned functions run when they are dropped. */
  protected abstract subscribe(node: MeshNode): Unsubscribe[];

  #sync(): void {
    const node = this.#connected ? this.#node() : undefined;
    if (node === this.#current) return;
    this.#drop();
    this.#current = node;
    if (node) {
      this.#offs = this.subscribe(node);
      // A node given after the first render: draw what it already holds.
      this.host.requestUpdate();
    }
  }

  #drop(): void {
    for (const off of this.#offs.splice(0)) off();
    this.#current = undefined;
  }
}

/** The registry's devices, modules and deployments, and who is alive. */
export class RegistryController extends NodeController {
  readonly #maps: ReadonlySet<RegistryMapName>;

  /** @param maps the registry maps whose changes re-render the host (default all). */
  constructor(host: ReactiveControllerHost, node: () => MeshNode | undefined, maps: RegistryMapName[] = ['devices', 'modules', 'deployments', 'cards']) {
    super(host, node);
    this.#maps = new Set(maps);
  }

  protected subscribe(node: MeshNode): Unsubscribe[] {
    const update = (): void => this.host.requestUpdate();
    return [
      node.peer.registry.on('change', (c) => {
        if (this.#maps.has(c.map)) update();
      }),
      node.peer.on('device-joined', update),
      node.peer.on('device-left', update),
    ];
  }

  /** Our own peer id ('' before the node is there). */
  get self(): string {
    return this.node?.peer.id ?? '';
  }

  /** True for ourselves and peers alive in presence. */
  isAlive(id: string): boolean {
    const node = this.node;
    return !!node && (id === node.peer.id || node.peer.alive().includes(id));
  }

  /** Devices: ourselves first, then alive ones, then by name. */
  get devices(): DeviceDescription[] {
    const node = this.node;
    if (!node) return [];
    const rank = (d: DeviceDescription): number => (d.id === node.peer.id ? 0 : this.isAlive(d.id) ? 1 : 2);
    return node.peer.registry.devices.values().sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }

  /** A device's name, or the start of its id when the registry has no record of it. */
  deviceName(id: string): string {
    return this.node?.peer.registry.devices.get(id)?.name ?? id.slice(0, 8);
  }

  /** Every published module version, by name then newest first. */
  get modules(): ModuleRecord[] {
    return this.node?.orchestrator.packages.list() ?? [];
  }

  /** Every deployment, newest first. */
  get deployments(): DeploymentView[] {
    return this.node?.orchestrator.list() ?? [];
  }

  /** The ODRL cards of zones and risk levels, as the orchestrators read them. */
  get policy(): PolicyCards {
    return policyCards(this.node?.peer.registry.cards.values() ?? []);
  }

  /** True when the mesh holds any card (zones and risk levels are in use). */
  get hasCards(): boolean {
    return (this.node?.peer.registry.cards.size ?? 0) > 0;
  }

  /** The zone a device's node card puts it in, if it has one. */
  zoneOf(device: string): string | undefined {
    return this.policy.nodes.find((n) => n.deviceId === device)?.zone;
  }

  /** A deployment's certificate against the cards as they are now; null before it has steps. */
  certificateOf(record: DeploymentView['record']): DeploymentCertificate | null {
    if (!record.steps || record.steps.length === 0) return null;
    return certificate(record.id, record.steps, record.solution, this.policy, new Date(record.updatedAt));
  }
}

/** Recent telemetry of one peer, oldest first. */
export interface TelemetrySeries {
  cpu: number[];
  memory: number[];
  calls: number[];
  latest: Telemetry | undefined;
}

/** Samples every alive peer's telemetry from presence at a fixed period and keeps the recent values. */
export class TelemetryController extends NodeController {
  readonly #periodMs: number;
  readonly #keep: number;
  readonly #series = new Map<string, TelemetrySeries>();

  constructor(host: ReactiveControllerHost, node: () => MeshNode | undefined, options: { periodMs?: number; keep?: number } = {}) {
    super(host, node);
    this.#periodMs = options.periodMs ?? 1000;
    this.#keep = options.keep ?? 40;
  }

  protected subscribe(node: MeshNode): Unsubscribe[] {
    this.#sample(node);
    const timer = setInterval(() => {
      this.#sample(node);
      this.host.requestUpdate();
    }, this.#periodMs);
    return [() => clearInterval(timer)];
  }

  /** The series of `peer` (empty when never heard from). */
  of(peer: string): TelemetrySeries {
    return this.#series.get(peer) ?? { cpu: [], memory: [], calls: [], latest: undefined };
  }

  #sample(node: MeshNode): void {
    const peers = [node.peer.id, ...node.peer.alive()];
    for (const id of peers) {
      const t = node.peer.presenceOf(id)?.telemetry;
      if (!t) continue;
      let s = this.#series.get(id);
      if (!s) this.#series.set(id, (s = { cpu: [], memory: [], calls: [], latest: t }));
      s.latest = t;
      push(s.cpu, t.cpu, this.#keep);
      push(s.memory, t.memory, this.#keep);
      push(s.calls, t.callsPerSecond, this.#keep);
    }
  }
}

function push(list: number[], value: number, keep: number): void {
  list.push(Number.isFinite(value) ? value : 0);
  if (list.length > keep) list.splice(0, list.length - keep);
}

/** Something that reports the state of the link to the signaling server. */
export interface LinkStatus {
  readonly state: LinkState;
  onState(listener: (state: LinkState) => void): Unsubscribe;
}

/** Whether the browser is online and the signaling server reachable. */
export class ConnectivityController implements ReactiveController {
  readonly #host: ReactiveControllerHost;
  readonly #link: () => LinkStatus | undefined;
  #off: Unsubscribe | null = null;
  #watched: LinkStatus | undefined;
  readonly #update = (): void => this.#host.requestUpdate();

  constructor(host: ReactiveControllerHost, link: () => LinkStatus | undefined) {
    this.#host = host;
    this.#link = link;
    host.addController(this);
  }

  /**
   * False only when the browser says it has no network and the signaling server was
   * tried and could not be reached. `navigator.onLine` alone is no proof: a browser on a
   * machine with only loopback (or reaching the host by a name that resolves to it) calls
   * itself offline while it talks to the host just fine; and a page that has not tried
   * yet (starting, or never started) knows nothing either way.
   */
  get online(): boolean {
    if (typeof navigator === 'undefined' || navigator.onLine) return true;
    return this.#watched?.state !== 'unreachable';
  }

  /** The signaling link's state, or null when this page has none (BroadcastChannel only). */
  get link(): LinkState | null {
    return this.#watched?.state ?? null;
  }

  hostConnected(): void {
    addEventListener('online', this.#update);
    addEventListener('offline', this.#update);
    this.hostUpdate();
  }

  hostUpdate(): void {
    const link = this.#link();
    if (link === this.#watched) return;
    this.#off?.();
    this.#watched = link;
    this.#off = link ? link.onState(this.#update) : null;
  }

  hostDisconnected(): void {
    removeEventListener('online', this.#update);
    removeEventListener('offline', this.#update);
    this.#off?.();
    this.#off = null;
    this.#watched = undefined;
  }
}
