/** Swapping the certificate of a running HTTPS server (a renewal needs no restart). */
import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';

/** Give `server` a new certificate for the connections it accepts from now on; a plain-HTTP server is left alone. */
export function renewTls(server: Server, tls: { cert: string; key: string }): void {
  const secure = server as unknown as Partial<HttpsServer>;
  secure.setSecureContext?.({ cert: tls.cert, key: tls.key });
}
