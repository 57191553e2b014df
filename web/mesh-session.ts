/**
 * This page's membership of the mesh, which can end and begin again: `join` claims the
 * device name (web/device-name.ts), opens the transports and starts the browser peer;
 * `leave` says goodbye to the mesh in the same task (so a page being frozen or closed
 * still sends it), stops the peer and lets go of the name. Joining again starts a new
 * peer from the same IndexedDB database: the same device id, and the registry catches up
 * through the usual sync. web/page-lifecycle.ts decides when to leave and come back.
 */
import { BroadcastChannelTransport } from '../shared/adapters/broadcast-channel-transport.ts';
import { WebRtcTransport } from '../shared/adapters/webrtc-transport.ts';
import { Emitter, type Unsubscribe } from '../shared/events.ts';
import type { Transport } from '../shared/ports/transport.ts';
import type { MeshBus } from '../shared/ports/mesh-bus.ts';
import type { PeerRoles } from '../shared/registry/join-roles.ts';
import { type BrowserPeer, startBrowserPeer } from './browser-peer.ts';
import { claimDeviceName, type HeldName, holdName } from './device-name.ts';
import { ResilientTransport } from '../shared/adapters/resilient-transport.ts';

/** Where the session stands. */
export type SessionState =
  /** Not started yet, or left (page hidden, frozen or closed). */
  | 'away'
  /** Waiting for another tab of this browser to stop being this device. */
  | 'waiting'
  | 'joining'
  | 'joined'
  /** Starting failed; `error` says why. */
  | 'failed';

/** Options of {@link MeshSession}. */
export interface MeshSessionOptions {
  /** The page's `name` parameter, or null to use a remembered or generated name. */
  nameParam: string | null;
  /** Prefix of a generated name (`phone`, `tablet`, `tab`). */
  kind: string;
  mesh: string;
  secret: string;
  /** Signaling server URL; null links only the tabs of this browser. */
  signal: string | null;
  /**
   * Whether the engine has WebRTC (default true). Without it (WebKitGTK) the signaling
   * server is not used and the page reaches other devices over the backbone alone.
   */
  webRtc?: boolean;
  /**
   * Opens the NATS backbone's transport for each join, when the page has one, with its mesh
   * bus when the page asked for it (web/nats-link.ts).
   */
  backbone?: () => { transport: Transport; bus?: MeshBus } | null;
  /** Roles (ADR 0025) the peer joins with (web/mesh-roles.ts); none in a mesh without roles. */
  roles?: PeerRoles;
  /** Starts the peer (default {@link startBrowserPeer}; tests give their own transports). */
  start?: (name: string, transports: Transport[], dbName: string, bus?: MeshBus) => Promise<BrowserPeer>;
  /** Claims the name (default {@link claimDeviceName}). */
  claim?: (param: string | null, kind: string) => Promise<HeldName>;
}

/** One page's coming and going in the mesh. */
export class MeshSession {
  readonly #options: MeshSessionOptions;
  readonly #events = new Emitter<{ change: SessionState }>();
  #state: SessionState = 'away';
  #node: BrowserPeer | undefined;
  #link: ResilientTransport | undefined;
  #held: HeldName | null = null;
  #name = '';
  #error = '';
  /** What the page wants; `#run` moves towards it one step at a time. */
  #want: 'in' | 'out' = 'out';
  #running: Promise<void> | null = null;
  #stopWaiting: AbortController | null = null;

  constructor(options: MeshSessionOptions) {
    this.#options = options;
  }

  get state(): SessionState {
    return this.#state;
  }

  /** The running peer (also the last one, after leaving, so views keep what they show). */
  get node(): BrowserPeer | undefined {
    return this.#node;
  }

  /** The signaling link of the running peer, if the page has a signaling server. */
  get link(): ResilientTransport | undefined {
    return this.#link;
  }

  /** The device name, once claimed. */
  get name(): string {
    return this.#name;
  }

  /** Why the last start failed ('' when it did not). */
  get error(): string {
    return this.#error;
  }

  /** Subscribe to state changes. */
  onChange(listener: (state: SessionState) => void): Unsubscribe {
    return this.#events.on('change', listener);
  }

  /** Join the mesh (again); resolves once joined, or failed, or overtaken by `leave`. */
  join(): Promise<void> {
    this.#want = 'in';
    return this.#run();
  }

  /**
   * Leave the mesh: the goodbye goes out before this returns its promise (nothing later
   * may run on a page being frozen or closed); then the peer stops and the name is free.
   */
  leave(): Promise<void> {
    this.#want = 'out';
    // Synchronously, whatever step is under way.
    if (this.#state === 'joined') void this.#node?.peer.leave();
    this.#stopWaiting?.abort();
    return this.#run();
  }

  #run(): Promise<void> {
    if (this.#running) return this.#running.then(() => (this.#settled() ? undefined : this.#run()));
    this.#running = this.#step().finally(() => (this.#running = null));
    return this.#running.then(() => (this.#settled() ? undefined : this.#run()));
  }

  #settled(): boolean {
    if (this.#want === 'out') return this.#state === 'away' || this.#state === 'failed';
    return this.#state === 'joined' || this.#state === 'failed';
  }

  async #step(): Promise<void> {
    if (this.#want === 'out') {
      if (this.#state !== 'joined') return;
      // The transports stop with the peer; a later join opens new ones.
      await this.#node!.stop().catch((e: unknown) => console.warn('leaving the mesh:', e));
      this.#held?.release();
      this.#held = null;
      this.#set('away');
      return;
    }
    if (this.#state === 'joined' || this.#state === 'failed') return;
    const o = this.#options;
    if (!this.#name) {
      this.#held = await (o.claim ?? claimDeviceName)(o.nameParam, o.kind);
      this.#name = this.#held.name;
    } else if (!this.#held) {
      // Back from away: take our name again, waiting while another tab is this device.
      const now = await holdName(this.#name, navigator.locks ?? null, { wait: false });
      if (now) this.#held = now;
      else {
        this.#set('waiting');
        // Leaving (hidden again) stops the wait rather than queueing behind the other tab.
        const abort = (this.#stopWaiting = new AbortController());
        this.#held = await holdName(this.#name, navigator.locks ?? null, { wait: true, signal: abort.signal });
        this.#stopWaiting = null;
      }
      if ((this.#want as string) === 'out' || !this.#held) {
        this.#held?.release();
        this.#held = null;
        this.#set('away');
        return;
      }
    }
    this.#set('joining');
    const transports: Transport[] = [new BroadcastChannelTransport({ channel: `${o.mesh}:${o.secret}` })];
    const link = o.signal && o.webRtc !== false ? new ResilientTransport(new WebRtcTransport({ signalUrl: o.signal, mesh: o.mesh, secret: o.secret })) : undefined;
    if (link) transports.push(link);
    const backbone = o.backbone?.();
    if (backbone) transports.push(backbone.transport);
    const dbName = `liquidmesh-${o.mesh}-${this.#name}`;
    try {
      const start = o.start ?? ((name, t, db, bus) => startBrowserPeer({ name, transports: t, dbName: db, ...(o.roles ? { roles: o.roles } : {}), ...(bus ? { bus } : {}) }));
      this.#node = await start(this.#name, transports, dbName, backbone?.bus);
      this.#link = link;
      this.#error = '';
      this.#set('joined');
    } catch (error) {
      // The code names the reason for scripts and for the user (ERR_INVITATION_USED…).
      const code = (error as { code?: unknown }).code;
      this.#error = `${error instanceof Error ? error.message : String(error)}${typeof code === 'string' ? ` (${code})` : ''}`;
      for (const t of transports) await t.disconnect().catch(() => undefined);
      this.#held?.release();
      this.#held = null;
      this.#set('failed');
    }
  }

  #set(state: SessionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#events.emit('change', state);
  }
}
