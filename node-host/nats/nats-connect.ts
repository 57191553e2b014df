/**
 * Connecting a Node peer to a NATS cluster over TCP: the `--nats*` command-line options,
 * and the connection factory the NATS transport (shared/adapters/nats-transport.ts) and
 * the MQTT bridge take. The client keeps the whole server list and moves to another
 * server when its own goes away, for as long as the peer runs (see ADR 0023).
 */
import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsTransport } from '../../shared/adapters/nats-transport.ts';
import { NatsTopicBridge } from './mqtt-bridge.ts';
import { defineError, InvalidParamsError, type MeshError } from '../../shared/errors.ts';

/** The cluster refused this client's credentials (or the lack of them). */
export const NatsAuthError = defineError('ERR_NATS_AUTH', 'NatsAuthError');
/** No server of the list could be reached. */
export const NatsUnreachableError = defineError('ERR_NATS_UNREACHABLE', 'NatsUnreachableError');

/** A failure no retry cures: the cluster refused the credentials, or the options are wrong. */
export function isNatsConfigError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_NATS_AUTH' || code === 'ERR_INVALID_PARAMS';
}

/** How to reach and log in to a NATS cluster. */
export interface NatsClientOptions {
  /** Server URLs, e.g. `nats://10.0.0.5:4222`; the client moves between them. */
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** A `.creds` file (user JWT and nkey seed), as `nsc` writes them. */
  credsFile?: string;
  /** Client name shown in the server's monitoring. */
  name?: string;
  /** Wait between reconnect attempts in ms (default 250). */
  reconnectTimeWaitMs?: number;
  /** Do not receive our own publications (the MQTT bridge's connection sets it). */
  noEcho?: boolean;
  /** Try the servers in the order given (e.g. the site's own leaf node first) instead of shuffled. */
  noRandomize?: boolean;
}

/** Split `--nats` values (repeatable, comma-separated) into server URLs; throws on one that is not nats://, tls:// or ws(s)://. */
export function parseNatsServers(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    for (const raw of value.split(',')) {
      const url = raw.trim();
      if (!url) continue;
      if (!/^(nats|tls|wss?):\/\/[^\s/]+(\/.*)?$/.test(url)) throw new InvalidParamsError(`--nats ${JSON.stringify(url)} is not a nats://host:port URL`);
      out.push(url);
    }
  }
  return out;
}

/**
 * The NATS options of a command line (`--nats URL[,URL…]` repeatable, `--nats-user`,
 * `--nats-pass`, `--nats-token`, `--nats-creds FILE`), or null without `--nats`.
 * The password and token may also come from LIQUIDMESH_NATS_PASS / LIQUIDMESH_NATS_TOKEN,
 * which keeps them out of the process list.
 */
export function natsOptionsFromArgs(args: readonly string[], env: Record<string, string | undefined> = process.env): NatsClientOptions | null {
  const all = (name: string): string[] => args.flatMap((a, i) => (a === `--${name}` && args[i + 1] !== undefined ? [args[i + 1]!] : []));
  const one = (name: string): string | undefined => all(name).at(-1);
  const servers = parseNatsServers(all('nats'));
  if (servers.length === 0) {
    if (args.some((a) => a.startsWith('--nats-'))) throw new InvalidParamsError('--nats-user, --nats-pass, --nats-token, --nats-creds, --nats-max-links and --nats-bus need --nats URL');
    return null;
  }
  // In the order given: a site lists its own leaf node first and the region's servers after it.
  const options: NatsClientOptions = { servers, noRandomize: true };
  const user = one('nats-user');
  const pass = one('nats-pass') ?? env.LIQUIDMESH_NATS_PASS;
  const token = one('nats-token') ?? env.LIQUIDMESH_NATS_TOKEN;
  const creds = one('nats-creds');
  if ([user !== undefined, token !== undefined, creds !== undefined].filter(Boolean).length > 1) throw new InvalidParamsError('use one of --nats-user/--nats-pass, --nats-token or --nats-creds');
  if (user !== undefined) {
    if (pass === undefined) throw new InvalidParamsError('--nats-user needs --nats-pass (or LIQUIDMESH_NATS_PASS)');
    options.user = user;
    options.pass = pass;
  }
  if (token !== undefined) options.token = token;
  if (creds !== undefined) options.credsFile = creds;
  return options;
}

function explain(error: unknown, servers: string[], nats: typeof import('@nats-io/transport-node')): MeshError {
  const e = error as Error & { code?: string };
  const text = `${e.message ?? String(error)}`;
  if (error instanceof nats.AuthorizationError || /authoriz|authenticat/i.test(text)) {
    return new NatsAuthError(`the NATS cluster (${servers.join(', ')}) refused the credentials: ${text}`);
  }
  return new NatsUnreachableError(`cannot reach the NATS cluster (${servers.join(', ')}): ${text}`);
}

/**
 * A connection factory for the NATS transport. The first connection must succeed (else
 * ERR_NATS_AUTH or ERR_NATS_UNREACHABLE); after that the client reconnects forever,
 * trying every server of the list.
 */
export function natsConnector(options: NatsClientOptions): () => Promise<NatsConnection> {
  if (options.servers.length === 0) throw new InvalidParamsError('a NATS connection needs at least one server');
  return async () => {
    // The client loads with the first connection: a peer without --nats never holds it.
    const nats = await import('@nats-io/transport-node');
    try {
      return await nats.connect({
        servers: options.servers,
        ...(options.user !== undefined ? { user: options.user, pass: options.pass ?? '' } : {}),
        ...(options.token !== undefined ? { token: options.token } : {}),
        ...(options.credsFile !== undefined ? { authenticator: nats.credsAuthenticator(readFileSync(options.credsFile)) } : {}),
        ...(options.name !== undefined ? { name: options.name } : {}),
        ...(options.noEcho ? { noEcho: true } : {}),
        ...(options.noRandomize ? { noRandomize: true } : {}),
        maxReconnectAttempts: -1,
        reconnectTimeWait: options.reconnectTimeWaitMs ?? 250,
        // Servers learned from the cluster join the list: a peer survives losing every server it was given but one.
        ignoreClusterUpdates: false,
      });
    } catch (error) {
      throw explain(error, options.servers, nats);
    }
  };
}

/**
 * The NATS transport a command line asks for (`--nats …`), or null without `--nats`:
 * the peer joins `mesh` over the backbone as well as over its other transports.
 */
export function natsTransportFromArgs(args: readonly string[], mesh: { mesh: string; secret: string; name: string }): NatsTransport | null {
  const options = natsOptionsFromArgs(args);
  if (!options) return null;
  const maxLinks = natsMaxLinksFromArgs(args);
  return new NatsTransport({
    connect: natsConnector({ ...options, name: `liquidmesh ${mesh.name}` }), mesh: mesh.mesh, secret: mesh.secret,
    // With the bus, presence tells peers of each other and the bus reaches every peer: announcements go to one short peer each.
    ...(maxLinks !== undefined ? { maxLinks, quietAtRest: natsBusFromArgs(args) } : {}),
  });
}

/**
 * `--nats-bus`: registry and presence over the backbone's mesh bus (collectors' digests on
 * mesh subjects) instead of flooding over its links, which then carry calls and blobs only.
 * Every peer of a mesh on the backbone must agree on it (ADR 0023).
 */
export function natsBusFromArgs(args: readonly string[]): boolean {
  return args.includes('--nats-bus');
}

/**
 * `--nats-max-links N`: at most N links on the backbone (a bounded overlay for meshes of
 * hundreds of peers, ADR 0023); undefined without it (every pair links).
 */
export function natsMaxLinksFromArgs(args: readonly string[]): number | undefined {
  const at = args.lastIndexOf('--nats-max-links');
  if (at < 0) return undefined;
  const n = Number(args[at + 1]);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidParamsError('--nats-max-links must be a whole number of at least 1');
  return n;
}

/** The PWA's query parameters for the same cluster, with the mesh bus when `bus` (web/nats-link.ts reads them). */
export function natsQuery(options: NatsClientOptions, bus = false): Record<string, string> {
  if (options.credsFile !== undefined) throw new InvalidParamsError('a Chromium peer cannot use --nats-creds; use --nats-user/--nats-pass or --nats-token');
  return {
    nats: options.servers.join(','),
    ...(bus ? { 'nats-bus': '1' } : {}),
    ...(options.user !== undefined ? { 'nats-user': options.user, 'nats-pass': options.pass ?? '' } : {}),
    ...(options.token !== undefined ? { 'nats-token': options.token } : {}),
  };
}

/**
 * The MQTT bridge a command line asks for (`--mqtt-bridge`, with `--nats`), or null:
 * its own connection to the same cluster, without echo of its own publications.
 */
export function natsTopicBridgeFromArgs(args: readonly string[], name: string): NatsTopicBridge | null {
  if (!args.includes('--mqtt-bridge')) return null;
  const options = natsOptionsFromArgs(args);
  if (!options) throw new InvalidParamsError('--mqtt-bridge needs --nats URL');
  return new NatsTopicBridge({ connect: natsConnector({ ...options, name: `liquidmesh ${name} mqtt-bridge`, noEcho: true }) });
}
