/**
 * WasmIoT 2026's device logs: supervisors POST a log record (form field `logData`, a JSON
 * object) to `/device/logs`; `GET /device/logs?after=<ISO time>` lists those received
 * since; a WebSocket at `/ws/logs` (the Rust orchestrator's, here on the gateway's own
 * port) pushes each record as it arrives. Records are kept in memory, newest last, up to
 * a bound of count and bytes: like the result files, logs are for looking, not for keeping.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import * as ws from 'ws';
import type WebSocket from 'ws';
import { InvalidParamsError } from '../../shared/errors.ts';
import { isPlainObject } from '../../shared/protocol/check.ts';
import type { GatewayContext } from './context.ts';
import { explain, mediaTypeOf, parseJson, readBody, sendJson } from './http.ts';
import { parseMultipart, parseUrlEncoded } from './multipart.ts';
import type { Router } from './router.ts';

// The types describe ws's CommonJS shape; its ESM entry exports WebSocketServer (see signal-server.ts).
const { WebSocketServer } = ws as unknown as { WebSocketServer: typeof ws.Server };
const OPEN = 1;

/** Records kept (oldest dropped first). */
export const LOG_RECORDS_KEPT = 10_000;
/** Bytes of record JSON kept at most, whatever their number (oldest dropped first). */
export const LOG_BYTES_KEPT = 16 * 1024 * 1024;

/** A stored log record: what the device sent, with the time it was received. */
export type LogRecord = Record<string, unknown> & { dateReceived: string };

/** The live half of the log routes: the WebSocket endpoint. */
export interface LogSockets {
  /**
   * Take an HTTP upgrade for `/ws/logs`; false when it is not for us or its origin may not
   * read the logs (the caller refuses it). `originAllowed` names other origins allowed in.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, originAllowed?: (origin: string) => boolean): boolean;
  /** Close every socket. */
  close(): void;
}

/** Register `/device/logs`; the returned handle serves `/ws/logs`. */
export function logRoutes(router: Router, g: GatewayContext): LogSockets {
  const records: { record: LogRecord; bytes: number }[] = [];
  let bytes = 0;
  const server = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  // Nothing a client sends is read: the socket only pushes.
  server.on('connection', (socket: WebSocket) => socket.on('message', () => undefined));

  const add = (record: LogRecord): void => {
    const text = JSON.stringify(record);
    records.push({ record, bytes: text.length });
    bytes += text.length;
    while (records.length > LOG_RECORDS_KEPT || (bytes > LOG_BYTES_KEPT && records.length > 1)) bytes -= records.shift()!.bytes;
    for (const client of server.clients) if (client.readyState === OPEN) client.send(text);
  };

  router.on('POST', '/device/logs', async ({ req, res }) => {
    const record = await explain('Failed saving log', async () => {
      const type = mediaTypeOf(req);
      let logData: unknown;
      if (type === 'application/json') {
        const body = parseJson(await readBody(req, g.limits.jsonBytes));
        logData = isPlainObject(body) && 'logData' in body ? body.logData : body;
      } else {
        const form = type === 'multipart/form-data' ? await parseMultipart(req.headers, await readBody(req, g.limits.jsonBytes)) : parseUrlEncoded(await readBody(req, g.limits.jsonBytes));
        const field = form.fields.find(([k]) => k === 'logData')?.[1];
        if (field === undefined) throw new InvalidParamsError('a log needs a form field logData holding a JSON object');
        logData = parseJson(Buffer.from(field));
      }
      if (typeof logData === 'string') logData = parseJson(Buffer.from(logData));
      if (!isPlainObject(logData)) throw new InvalidParamsError('logData must be a JSON object');
      return { ...logData, dateReceived: new Date().toISOString() } as LogRecord;
    });
    add(record);
    sendJson(res, 200, { status: 'success', dateReceived: record.dateReceived });
  });

  router.on('GET', '/device/logs', ({ res, query }) => {
    const after = query.get('after');
    let since = Number.NEGATIVE_INFINITY;
    if (after) {
      since = Date.parse(after);
      if (Number.isNaN(since)) throw new InvalidParamsError(`after must be an ISO date and time, not ${JSON.stringify(after.slice(0, 100))}`);
    }
    sendJson(res, 200, records.map((r) => r.record).filter((r) => Date.parse(r.dateReceived) > since));
  });

  return {
    upgrade(req, socket, head, originAllowed = () => false) {
      const path = (req.url ?? '').split('?', 1)[0];
      if (path !== '/ws/logs') return false;
      // Browsers let any page open a WebSocket anywhere: only same-origin pages (or
      // non-browser clients, which send no Origin) may read the logs.
      const origin = req.headers.origin;
      if (origin !== undefined && hostOf(origin) !== req.headers.host && !originAllowed(origin)) return false;
      server.handleUpgrade(req, socket as Socket, head, (client: WebSocket) => server.emit('connection', client, req));
      return true;
    },
    close() {
      for (const client of server.clients) client.terminate();
      server.close();
    },
  };
}

function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}
