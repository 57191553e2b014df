/**
 * The browser's way onto the NATS backbone: `?nats=wss://host:port[,…]` (with
 * `nats-user`/`nats-pass` or `nats-token` when the cluster asks for them) adds a NATS
 * transport over WebSocket beside the site's WebRTC mesh (see ADR 0023). Retried in the
 * background like the WebRTC link, so an unreachable cluster never stops the PWA.
 * `nats-bus` (any value but `0`) carries registry and presence over the backbone's mesh
 * bus instead of its links, as `--nats-bus` does for the command line: every peer of a
 * mesh on the backbone must agree on it (ADR 0023).
 */
import { wsconnect } from '@nats-io/nats-core';
import { NatsTransport } from '../shared/adapters/nats-transport.ts';
import { ResilientTransport } from '../shared/adapters/resilient-transport.ts';
import type { MeshBus } from '../shared/ports/mesh-bus.ts';

/** The page's way onto the backbone: its transport, and its mesh bus when the page asked for one. */
export interface NatsLink {
  transport: ResilientTransport;
  bus?: MeshBus;
}

/** Whether the page's query asks for the mesh bus (`nats-bus`, any value but `0`). */
export function wantsNatsBus(params: URLSearchParams): boolean {
  return params.has('nats-bus') && params.get('nats-bus') !== '0';
}

/** A NATS transport (and bus) for the page's query, or null without `nats`. */
export function natsLinkFromQuery(params: URLSearchParams, mesh: string, secret: string): NatsLink | null {
  const servers = (params.get('nats') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (servers.length === 0) return null;
  const user = params.get('nats-user');
  const token = params.get('nats-token');
  const connect = () => wsconnect({
    servers,
    ...(user !== null ? { user, pass: params.get('nats-pass') ?? '' } : {}),
    ...(token !== null ? { token } : {}),
    // In the order given, like --nats: the site's own server first.
    noRandomize: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
  const transport = new ResilientTransport(new NatsTransport({ connect, mesh, secret }));
  const bus = wantsNatsBus(params) ? transport.bus : undefined;
  return bus ? { transport, bus } : { transport };
}
