/**
 * What keeps a Node HTTP server of the host up whatever a client sends: malformed HTTP
 * (a bad request line, an oversized or broken header) is answered 400/431 with a named
 * error and the socket closed; a handler that throws or whose promise rejects becomes a
 * JSON error answer instead of an uncaught exception that would stop every server of
 * the process (the PWA, signaling, the gateway and the Node peer share one).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../shared/log.ts';

/** A request handler that may be async. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Answer JSON `{error, code}`, or end the connection when an answer has already begun. */
export function answerError(res: ServerResponse, status: number, code: string, error: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.writableEnded) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({ error, code });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * `handler` with every throw and rejection caught: a URIError (a path that does not
 * decode) is a 400 ERR_BAD_URL, anything else a logged 500 ERR_INTERNAL.
 */
export function guardHandler(handler: RequestHandler, log: Logger): RequestHandler {
  const failed = (res: ServerResponse, error: unknown): void => {
    if (error instanceof URIError || (error as { code?: string }).code === 'ERR_BAD_URL') {
      answerError(res, 400, 'ERR_BAD_URL', 'the request URL cannot be decoded');
      return;
    }
    log.warn(`request failed: ${(error as Error)?.message ?? String(error)}`);
    answerError(res, 500, 'ERR_INTERNAL', 'internal error');
  };
  return (req, res) => {
    try {
      const done = handler(req, res);
      if (done) done.catch((error: unknown) => failed(res, error));
    } catch (error) {
      failed(res, error);
    }
  };
}

/** Raw answers for what the HTTP parser refused, before any request object exists. */
function rawAnswer(status: 400 | 408 | 431, code: string): string {
  const body = JSON.stringify({ error: status === 431 ? 'request headers too large' : status === 408 ? 'request timed out' : 'malformed HTTP request', code });
  const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  return `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/**
 * Answer what the HTTP parser refuses (`clientError`) with a named error and close the
 * socket; socket errors of upgraded or half-parsed connections are logged, never thrown.
 */
export function guardServer(server: Server, log: Logger): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    log.debug(`refused a malformed request: ${error.code ?? error.message}`);
    // A reset or a socket already answered has nobody left to tell.
    if (error.code === 'ECONNRESET' || !socket.writable || (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const answer = error.code === 'HPE_HEADER_OVERFLOW' ? rawAnswer(431, 'ERR_HEADERS_TOO_LARGE')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? rawAnswer(408, 'ERR_REQUEST_TIMEOUT')
      : rawAnswer(400, 'ERR_BAD_REQUEST');
    socket.end(answer);
  });
}
