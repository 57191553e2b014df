/**
 * The mesh's one signaling process: a single HTTP server and port serving
 *
 * - `<path>signal`: the y-webrtc signaling protocol over WebSocket (topic-hub.ts), through
 *   which peers meet in encrypted rooms;
 * - `<path>peerjs`: a PeerJS server (peerjs-mount.ts) that relays the WebRTC offers,
 *   answers and candidates between PeerJS ids, with discovery off.
 *
 * Sharing the port: both endpoints use a `ws` WebSocketServer created with
 * `noServer: true`, and this module is the only `upgrade` listener on the HTTP server. It
 * routes each upgrade by exact pathname to the endpoint that owns it and answers any
 * other path with 404, so neither WebSocket server can abort the other's handshakes (a
 * WebSocketServer attached with `{ server, path }` answers every foreign path with 400).
 * @module
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import * as ws from 'ws';
import type WebSocket from 'ws';
import { defineError, InvalidParamsError } from '../../shared/errors.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import { guardHandler, guardServer } from '../http-guard.ts';
import { renewTls } from '../tls/secure-context.ts';
import { mountPeerjs, type PeerjsMount } from './peerjs-mount.ts';
import { TopicHub } from './topic-hub.ts';

/** The HTTP server could not listen on the requested host and port (in use, not local, …). */
export const ListenFailedError = defineError('ERR_LISTEN_FAILED', 'ListenFailedError');

// @types/ws describes ws 7, whose server class was `WebSocket.Server`; the installed ws 8
// exports it from its ESM entry as `WebSocketServer` and has no `Server` there.
const { WebSocketServer } = ws as unknown as { WebSocketServer: typeof ws.Server };

/** Options of {@link startSignalServer}. */
export interface SignalServerOptions {
  /** Interface to listen on. Default `127.0.0.1`: reachable from this machine only. */
  host?: string;
  /** Port; `0` (the default) picks any free port, see {@link SignalServer.port}. */
  port?: number;
  /** Base path both endpoints live under (`/` → `/signal` and `/peerjs`; `/mesh` → `/mesh/signal`, …). Default `/`. */
  path?: string;
  /** Default: the `liquidmesh:signal` logger. */
  logger?: Logger;
  /** Largest WebSocket message accepted on either endpoint; a larger one closes its socket with code 1009. Default 1 MiB. */
  maxMessageBytes?: number;
  /** Topics one y-webrtc socket may subscribe to at once; further ones are ignored. Default 100. */
  maxTopicsPerSocket?: number;
  /** Period of the y-webrtc sockets' ping; a socket silent for a whole period after a ping is closed. Default 30 s. */
  heartbeatMs?: number;
  /** Serve HTTPS and WSS with this certificate (PEM); plain HTTP and WS without. */
  tls?: { cert: string; key: string };
}

/** Counters of a running {@link SignalServer}. */
export interface SignalServerStats {
  /** Open y-webrtc signaling sockets. */
  signalClients: number;
  /** y-webrtc topics with at least one subscriber. */
  topics: number;
  /** Open PeerJS WebSocket connections. */
  peerjsClients: number;
}

/** A running signaling server. */
export interface SignalServer {
  /** Base URL, without a trailing slash: `http://127.0.0.1:4444` (`https://` with TLS; plus the base path, if any). */
  readonly url: string;
  /** The port actually listened on (the chosen one when started with port 0). */
  readonly port: number;
  /** WebSocket URL of the y-webrtc endpoint (`ws://` or, with TLS, `wss://`), to put in y-webrtc's `signaling` list. */
  readonly signalUrl: string;
  /** Path of the PeerJS server, PeerJS's `path` client option (`/peerjs`); its key is `peerjs`. */
  readonly peerjsPath: string;
  /** The bound address, as Node's `server.address()` reports it. */
  address(): AddressInfo;
  /** Current counters. */
  stats(): SignalServerStats;
  /** Serve a renewed certificate to new connections (HTTPS only; a no-op on HTTP). */
  setTls(tls: { cert: string; key: string }): void;
  /** Close every socket and stop listening. Idempotent: later calls return the same promise. */
  close(): Promise<void>;
}

const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
const DEFAULT_MAX_TOPICS = 100;
const DEFAULT_HEARTBEAT_MS = 30_000;

/**
 * Start the signaling server and resolve once it listens. Rejects with
 * `ERR_INVALID_PARAMS` for bad options and `ERR_LISTEN_FAILED` when the port cannot be
 * bound; nothing is left running in either case.
 */
export async function startSignalServer(options: SignalServerOptions = {}): Promise<SignalServer> {
  const host = options.host ?? '127.0.0.1';
  const requestedPort = options.port ?? 0;
  const base = basePath(options.path ?? '/');
  const log = options.logger ?? createLogger('signal');
  const maxMessageBytes = positiveInteger(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes');
  if (typeof host !== 'string' || host === '') throw new InvalidParamsError('host must be a non-empty string', { host });
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
    throw new InvalidParamsError('port must be an integer from 0 to 65535', { port: requestedPort });
  }

  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }) : createServer();
  const hub = new TopicHub({
    logger: log.child('y-webrtc'),
    maxTopicsPerSocket: positiveInteger(options.maxTopicsPerSocket ?? DEFAULT_MAX_TOPICS, 'maxTopicsPerSocket'),
    heartbeatMs: positiveInteger(options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS, 'heartbeatMs'),
  });
  let peerjs: PeerjsMount;
  try {
    peerjs = mountPeerjs({ server, mountPath: `${base}/peerjs`, maxMessageBytes, logger: log.child('peerjs') });
  } catch (error) {
    hub.close();
    throw error;
  }
  const signal = new WebSocketServer({ noServer: true, maxPayload: maxMessageBytes, clientTracking: false });
  const signalPath = `${base}/signal`;

  server.on('request', guardHandler((req: IncomingMessage, res: ServerResponse) => {
    if (pathnameOf(req) === signalPath) {
      reply(res, 426, 'y-webrtc signaling: connect with a WebSocket\n');
      return;
    }
    peerjs.handler(req, res);
  }, log));
  guardServer(server, log);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (error: Error) => log.debug('upgrade socket error:', error.message));
    try {
      routeUpgrade(req, socket, head);
    } catch (error) {
      // A handshake that throws ends its own socket, never the process.
      log.warn('WebSocket upgrade failed:', (error as Error).message);
      socket.destroy();
    }
  });
  const routeUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = pathnameOf(req);
    if (pathname === signalPath) {
      // See peerjs-mount.ts on why the socket is cast.
      signal.handleUpgrade(req, socket as Socket, head, (client: WebSocket) => hub.accept(client));
    } else if (pathname === peerjs.socketPath) {
      peerjs.handleUpgrade(req, socket, head);
    } else {
      log.debug('refused a WebSocket upgrade for an unknown path', pathname);
      socket.once('finish', () => socket.destroy());
      socket.end(`HTTP/1.1 404 ${STATUS_CODES[404]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
  };

  try {
    await listen(server, host, requestedPort);
  } catch (error) {
    hub.close();
    await peerjs.close();
    throw error;
  }
  server.on('error', (error: Error) => log.error('signaling server error:', error.message));
  return new RunningSignalServer(server, hub, peerjs, host, base, options.tls !== undefined);
}

class RunningSignalServer implements SignalServer {
  readonly url: string;
  readonly port: number;
  readonly signalUrl: string;
  readonly peerjsPath: string;
  readonly #server: Server;
  readonly #hub: TopicHub;
  readonly #peerjs: PeerjsMount;
  #closing: Promise<void> | undefined;

  constructor(server: Server, hub: TopicHub, peerjs: PeerjsMount, host: string, base: string, secure: boolean) {
    this.#server = server;
    this.#hub = hub;
    this.#peerjs = peerjs;
    this.port = this.address().port;
    const authority = `${host.includes(':') ? `[${host}]` : host}:${this.port}`;
    this.url = `${secure ? 'https' : 'http'}://${authority}${base}`;
    this.signalUrl = `${secure ? 'wss' : 'ws'}://${authority}${base}/signal`;
    this.peerjsPath = `${base}/peerjs`;
  }

  address(): AddressInfo {
    // Listening on host and port, never a pipe, so the address is an AddressInfo until closed.
    return this.#server.address() as AddressInfo;
  }

  setTls(tls: { cert: string; key: string }): void {
    renewTls(this.#server, tls);
  }

  stats(): SignalServerStats {
    const hub = this.#hub.stats();
    return { signalClients: hub.sockets, topics: hub.topics, peerjsClients: this.#peerjs.sockets() };
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    // server.close() only stops accepting; its callback waits for every connection, so
    // upgraded sockets are terminated and idle keep-alive connections dropped here.
    const stopped = new Promise<void>((resolve, reject) => this.#server.close((error) => (error ? reject(error) : resolve())));
    this.#hub.close();
    const peerjsClosed = this.#peerjs.close();
    this.#server.closeAllConnections();
    await Promise.all([stopped, peerjsClosed]);
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(new ListenFailedError(`cannot listen on ${host}:${port}: ${error.message}`, { host, port, cause: error.code }));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** `/` → '', `/mesh/` → '/mesh': the prefix that endpoint paths are appended to. */
function basePath(path: string): string {
  // Plain segments only: the PeerServer's mount path is an Express route pattern, where
  // `:`, `(`, `*` and the like would mean something else.
  if (typeof path !== 'string' || !/^(\/[A-Za-z0-9._~-]+)*\/?$/.test(path)) {
    throw new InvalidParamsError('path must be / or /-separated segments of letters, digits and . _ ~ -', { path });
  }
  return path.replace(/\/$/, '');
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new InvalidParamsError(`${name} must be a positive integer`, { [name]: value });
  return value;
}

function pathnameOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
