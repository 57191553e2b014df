/**
 * The trust page: a plain-HTTP server on its own port (default 8081) that hands out the
 * host's CA certificate, so a phone, a kiosk or another machine can trust the HTTPS
 * servers before it opens them. It serves exactly three things —
 *
 *   /          a short page: how to install and trust the CA on Android, iOS and desktops,
 *              then the HTTPS link to join the mesh
 *   /ca.crt    the CA certificate, DER, `application/x-x509-ca-cert` (what phones install)
 *   /ca.pem    the same certificate as PEM (certutil, NODE_EXTRA_CA_CERTS, `peer --trust`)
 *
 * — and 404 for every other path. Plain HTTP because nothing can be trusted yet; the page
 * shows the CA's SHA-256 fingerprint so a careful user can compare it with the one
 * `liquidmesh start` printed. A certificate is public: nothing secret is served here.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../../shared/log.ts';
import { ListenFailedError } from '../signal/signal-server.ts';
import { certificateDer, fingerprint } from './local-ca.ts';

/** The trust page's default port. */
export const DEFAULT_TRUST_PORT = 8081;

/** Options of {@link startTrustServer}. */
export interface TrustServerOptions {
  /** The CA certificate, PEM. */
  caCert: string;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8081; 0 = any free port). */
  port?: number;
  /** The HTTPS URL to join the mesh, linked from the page; a function gets this server's URL first. */
  joinUrl?: string | ((trustUrl: string) => string);
  logger?: Logger;
}

/** A running trust page server. */
export interface TrustServer {
  /** `http://host:port/`: the page. */
  readonly url: string;
  readonly port: number;
  /** Stop listening and close every connection. */
  close(): Promise<void>;
}

/** Start the trust page server; rejects with `ERR_LISTEN_FAILED` when the port cannot be bound. */
export async function startTrustServer(options: TrustServerOptions): Promise<TrustServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_TRUST_PORT;
  const log = options.logger ?? createLogger('trust');
  const der = certificateDer(options.caCert);
  const pem = options.caCert.endsWith('\n') ? options.caCert : `${options.caCert}\n`;
  const caFingerprint = fingerprint(options.caCert);
  let page = ''; // made once the port is known: it names this server's own URL

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const method = req.method ?? 'GET';
    const body = path === '/' ? { type: 'text/html; charset=utf-8', bytes: Buffer.from(page) }
      : path === '/ca.crt' ? { type: 'application/x-x509-ca-cert', bytes: Buffer.from(der), file: 'liquidmesh-ca.crt' }
      : path === '/ca.pem' ? { type: 'application/x-pem-file', bytes: Buffer.from(pem), file: 'liquidmesh-ca.pem' }
      : null;
    const headers: Record<string, string> = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' };
    if (!body) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end('not found: this server serves only /, /ca.crt and /ca.pem\n');
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { ...headers, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('only GET and HEAD\n');
      return;
    }
    headers['content-type'] = body.type;
    headers['content-length'] = String(body.bytes.byteLength);
    if (path === '/') headers['content-security-policy'] = "default-src 'none'; style-src 'unsafe-inline'";
    if ('file' in body) headers['content-disposition'] = `attachment; filename="${body.file}"`;
    res.writeHead(200, headers).end(method === 'HEAD' ? undefined : body.bytes);
  };

  const server = createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      log.warn(`trust page: ${(error as Error).message}`);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    }
  });
  // Malformed requests are answered 400 by Node; a socket that errors is dropped, never thrown.
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new ListenFailedError(`cannot listen on ${host}:${port}: ${error.message}`, { host, port, cause: error.code })));
    server.listen({ host, port }, () => resolve());
  });
  server.on('error', (error) => log.warn(`trust page server: ${error.message}`));
  const bound = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}/`;
  page = trustPage(caFingerprint, url, typeof options.joinUrl === 'function' ? options.joinUrl(url) : options.joinUrl);
  return {
    url,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page: what to tap on each platform, in the order a user does it. */
function trustPage(caFingerprint: string, selfUrl: string, joinUrl: string | undefined): string {
  const join = joinUrl
    ? `<p>Then open the mesh: <a id="join" href="${escape(joinUrl)}">${escape(joinUrl)}</a></p>`
    : '<p>Then open the mesh at the HTTPS address <code>liquidmesh start</code> printed.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trust this LiquidMesh host</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem}code{word-break:break-all}
a.button{display:inline-block;padding:.6rem 1rem;border-radius:.4rem;background:#2563eb;color:#fff;text-decoration:none}h2{font-size:1.1rem;margin-top:1.5rem}</style></head>
<body>
<h1>Trust this LiquidMesh host</h1>
<p>This host serves the mesh over HTTPS with a certificate from its own certificate authority (CA).
Install and trust that CA once on this device; then the app opens as a secure site.</p>
<p><a class="button" id="ca" href="/ca.crt">Download the CA certificate</a> (<a href="/ca.pem">PEM</a>)</p>
<p>SHA-256 fingerprint — compare it with the one <code>liquidmesh start</code> printed:<br><code id="fingerprint">${caFingerprint}</code></p>
<h2>Android</h2>
<ol><li>Tap <em>Download the CA certificate</em>.</li>
<li>Open <em>Settings → Security &amp; privacy → More security settings → Encryption &amp; credentials → Install a certificate → CA certificate</em>, tap <em>Install anyway</em> and pick <code>liquidmesh-ca.crt</code> (on some phones the installer opens by itself).</li></ol>
<h2>iPhone and iPad (Safari)</h2>
<ol><li>Tap <em>Download the CA certificate</em> and allow the configuration profile.</li>
<li>Open <em>Settings → General → VPN &amp; Device Management</em>, tap the <em>LiquidMesh local CA</em> profile and <em>Install</em>.</li>
<li>Open <em>Settings → General → About → Certificate Trust Settings</em> and turn on full trust for <em>LiquidMesh local CA</em>.</li></ol>
<h2>Firefox (any desktop)</h2>
<ol><li>Click <em>Download the CA certificate</em>; Firefox asks what to trust: tick <em>Trust this CA to identify websites</em>.</li></ol>
<h2>Chrome and Edge on Windows</h2>
<ol><li>Download the certificate, open it, <em>Install Certificate… → Current User → Place all certificates in the following store → Trusted Root Certification Authorities</em>.</li></ol>
<h2>Chrome, Edge and Safari on macOS</h2>
<ol><li>Download the certificate and open it: Keychain Access adds it to the <em>login</em> keychain.</li>
<li>Double-click <em>LiquidMesh local CA</em>, open <em>Trust</em> and set <em>When using this certificate</em> to <em>Always Trust</em>.</li></ol>
<h2>Chrome and Chromium on Linux</h2>
<ol><li>Download the PEM and run <code>certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n liquidmesh -i liquidmesh-ca.pem</code> (package <code>libnss3-tools</code>), or import it under <em>Settings → Privacy and security → Security → Manage certificates → Authorities</em>; restart the browser.</li></ol>
<h2>Another LiquidMesh machine</h2>
<ol><li><code>liquidmesh peer … --trust ${escape(selfUrl)}</code> fetches and trusts this CA for that peer.</li></ol>
${join}
</body></html>
`;
}
