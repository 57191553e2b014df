/**
 * The browser's way onto the NATS backbone: `?nats=wss://host:port[,…]` (with
 * `nats-user`/`nats-pass` or `nats-token` when the cluster asks for them) adds a NATS
 * transport over WebSocket beside the site's WebRTC mesh (see ADR 0023). Retried in the
 * background like the WebRTC link, so an unreachable cluster never stops the PWA.
 */
import { wsconnect } from '@nats-io/nats-core';
import { NatsTransport } from '../shared/adapters/nats-transport.ts';
import { ResilientTransport } from '../shared/adapters/resilient-transport.ts';

/** A NATS transport for the page's query, or null without `nats`. */
export function natsLinkFromQuery(params: URLSearchParams, mesh: string, secret: string): ResilientTransport | null {
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
  return new ResilientTransport(new NatsTransport({ connect, mesh, secret }));
}
