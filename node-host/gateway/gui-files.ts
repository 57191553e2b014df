/**
 * `--gui-dir`: a static web GUI served from the gateway's own origin, so that it calls
 * the API same-origin (no CORS, and the Origin check lets it change state). Files are
 * served on GET paths no API route takes; a navigation to a path that names no file gets
 * index.html (a single-page app's deep links); anything else that is missing is a 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendFile, StaticRoot } from '../static-files.ts';
import { sendJson } from './http.ts';

/** The GUI directory of one gateway. */
export class GuiFiles {
  readonly #root: StaticRoot;

  constructor(dir: string) {
    this.#root = new StaticRoot(dir);
  }

  /** Answer GET/HEAD `path` (still percent-encoded) from the directory. */
  async serve(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let found = await this.#root.lookup(path === '/' ? '/index.html' : path);
    if (found.kind === 'bad-path') {
      sendJson(res, 400, { errorText: 'Bad request', error: 'the path cannot be decoded or leaves the GUI directory', code: 'ERR_BAD_URL' });
      return;
    }
    if (found.kind === 'missing' && isNavigation(req)) found = await this.#root.lookup('/index.html');
    if (found.kind !== 'file') {
      sendJson(res, 404, { err: 'Bad URL', errorText: 'Bad URL', error: `no route or GUI file for ${path.slice(0, 200)}`, code: 'ERR_ROUTE_NOT_FOUND' });
      return;
    }
    // The GUI may not be framed by other sites (clickjacking of its buttons).
    sendFile(req, res, found, { 'x-frame-options': 'DENY', 'content-security-policy': "frame-ancestors 'none'" });
  }
}

function isNavigation(req: IncomingMessage): boolean {
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  return (req.headers.accept ?? '').includes('text/html');
}
