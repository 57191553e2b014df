/**
 * The PeerJS server (`peer` 1.0.2's `ExpressPeerServer`) mounted so that it can share an
 * HTTP server, and its port, with other WebSocket endpoints.
 *
 * How `peer` 1.0.2 attaches itself, and what this module does about it:
 *
 * - `ExpressPeerServer(server, options)` returns an Express sub-app that does nothing
 *   until it is mounted on a parent app; its `mount` handler adds the HTTP routes
 *   (`GET <mount>/` description, `GET <mount>/:key/id`, `GET <mount>/:key/peers`) and
 *   creates the WebSocket server for `<mount>/peerjs`. We mount it on a parent Express app
 *   that is the HTTP server's request handler.
 * - That WebSocket server is by default `new WebSocketServer({ server, path })`, which
 *   adds its own `upgrade` listener to the HTTP server and *aborts* (HTTP 400) every
 *   upgrade for any other path, killing other endpoints' handshakes on the same port. The
 *   package's `createWebSocketServer` option lets us build it instead: we create it with
 *   `noServer: true`, so it never touches the HTTP server, and hand it only the upgrades
 *   for its own path (the path `peer` computes is passed to the factory and reported as
 *   {@link PeerjsMount.socketPath}).
 * - The sub-app re-emits its sockets' errors, including JSON parse failures of client
 *   messages, as an `error` event on itself; with no listener Node would throw it and
 *   crash the process, so one is always attached.
 * - Mounting starts two timer loops that `peer` never stops; they are tracked and cleared
 *   on close (see timer-scope.ts).
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ExpressPeerServer } from 'peer';
import * as ws from 'ws';
import type WebSocket from 'ws';
import { defineError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { trackTimers } from './timer-scope.ts';

/** The installed `peer` package no longer builds its WebSocket server the way this module relies on. */
export const PeerServerIncompatibleError = defineError('ERR_PEERJS_INCOMPATIBLE', 'PeerServerIncompatibleError');

/** The PeerServer's id key: PeerJS clients send it as `key` and use it in the API paths. */
export const PEERJS_KEY: string = 'peerjs';

// @types/ws describes ws 7, whose server class was `WebSocket.Server`; the installed ws 8
// exports it from its ESM entry as `WebSocketServer` and has no `Server` there.
const { WebSocketServer } = ws as unknown as { WebSocketServer: typeof ws.Server };
type SocketServer = InstanceType<typeof WebSocketServer>;

/** The parts of an Express application used here (typed locally: see {@link loadExpress}). */
interface ParentApp {
  (req: IncomingMessage, res: ServerResponse): void;
  use(path: string, app: unknown): unknown;
  disable(setting: string): unknown;
}

/**
 * Express, as the `peer` package resolves it. This project does not depend on Express
 * itself; `peer` does, and the parent app has to come from the same Express that built
 * the sub-app it mounts. The types are declared locally because the Express types
 * installed at top level (v5, pulled in by another package) do not match v4.
 */
function loadExpress(): () => ParentApp {
  const requireHere = createRequire(import.meta.url);
  const requireFromPeer = createRequire(requireHere.resolve('peer'));
  return requireFromPeer('express') as () => ParentApp;
}

/** What {@link mountPeerjs} needs. */
export interface PeerjsMountOptions {
  /** The HTTP server the sub-app is told it runs on (`peer` insists on having one). */
  server: Server;
  /** Path the PeerServer is mounted at, e.g. `/peerjs`; what PeerJS clients take as `path`. */
  mountPath: string;
  /** Largest WebSocket message accepted; a larger one closes the socket (code 1009). */
  maxMessageBytes: number;
  logger: Logger;
}

/** A mounted PeerServer. */
export interface PeerjsMount {
  /** HTTP request handler: the PeerServer's routes under the mount path, 404 elsewhere. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Exact pathname of the PeerServer's WebSocket endpoint (`<mountPath>/peerjs`). */
  readonly socketPath: string;
  /** Complete a WebSocket upgrade for {@link socketPath} and hand the socket to the PeerServer. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Open PeerJS WebSocket connections. */
  sockets(): number;
  /** Terminate every PeerJS socket and stop the PeerServer's timers; resolves once every socket is gone. Idempotent. */
  close(): Promise<void>;
}

/** Build the PeerServer, mount it at `mountPath` and take over its WebSocket server. */
export function mountPeerjs(options: PeerjsMountOptions): PeerjsMount {
  const log = options.logger;
  let socketServer: SocketServer | undefined;
  let socketPath: string | undefined;

  const peerApp = ExpressPeerServer(options.server, {
    key: PEERJS_KEY,
    path: '/',
    // Peers find each other through the encrypted y-webrtc topics, never by listing ids.
    allow_discovery: false,
    proxied: false,
    createWebSocketServer: (wsOptions: { path?: string }) => {
      socketPath = wsOptions.path;
      socketServer = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes });
      return socketServer;
    },
  });
  peerApp.disable('x-powered-by');
  peerApp.on('error', (error: Error) => log.debug('PeerJS error:', error.message));
  peerApp.on('connection', (client) => log.debug('PeerJS client connected', client.getId()));
  peerApp.on('disconnect', (client) => log.debug('PeerJS client left', client.getId()));

  const parent = loadExpress()();
  parent.disable('x-powered-by');
  const timers = trackTimers(() => parent.use(options.mountPath, peerApp));

  if (!socketServer || typeof socketPath !== 'string') {
    timers.dispose();
    throw new PeerServerIncompatibleError('the peer package did not build its WebSocket server through createWebSocketServer', {
      socketPath,
    });
  }
  const wss: SocketServer = socketServer;
  let closing: Promise<void> | undefined;

  return {
    handler: parent,
    socketPath,
    handleUpgrade(req, socket, head) {
      // The 'upgrade' event's socket is a net.Socket (a TLSSocket for HTTPS); Node types it
      // as Duplex and @types/ws 7 wants the concrete class.
      wss.handleUpgrade(req, socket as Socket, head, (client: WebSocket) => {
        if (closing) client.terminate();
        else wss.emit('connection', client, req);
      });
    },
    sockets: () => wss.clients.size,
    close() {
      closing ??= new Promise<void>((resolve) => {
        timers.dispose();
        // With client tracking on, ws emits 'close' once the last tracked socket is gone.
        wss.once('close', () => resolve());
        wss.close();
        for (const client of wss.clients) client.terminate();
      });
      return closing;
    },
  };
}
