/**
 * URLs of the gateway itself inside a `POST /deploy` body — what the WasmIoT
 * orchestrator hands its supervisors: `<gateway>/file/module/{id}/wasm`,
 * `/file/module/{id}/{data file}`, `/file/module/{id}/description` and result files
 * `/files/{sha256}[/name]`. They are answered from the mesh directly, with no network
 * fetch, so they work on a loopback gateway whose outbound fetches refuse loopback; a
 * URL of the gateway's own origin that names anything else is refused.
 */
import { hasCode } from '../../shared/errors.ts';
import type { GatewayContext } from './context.ts';
import { FetchFailedError } from './http.ts';
import { moduleOpenApi } from './openapi.ts';
import { FetchDeniedError } from './outbound-fetch.ts';

/** Fetch a URL of a request: `own` says whether its authority is this gateway's. */
export type UrlFetch = (url: string, limit: number) => Promise<Uint8Array>;

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

/** The bytes `url` (on this gateway's own origin) names, read from the mesh. */
export async function ownResource(g: GatewayContext, url: URL, limit: number): Promise<Uint8Array> {
  const parts = url.pathname.split('/').slice(1).map(decode);
  const shown = url.href.slice(0, 300);
  const failed = (): Error => new FetchFailedError(`could not fetch ${shown}`, { url: shown });
  let bytes: Uint8Array | undefined;
  try {
    if (parts.length === 4 && parts[0] === 'file' && parts[1] === 'module' && parts[2] && parts[3]) {
      const m = g.node.orchestrator.packages.resolve(parts[2]);
      if (parts[3] === 'wasm') bytes = await g.node.peer.fetchBlob(m.id);
      else if (parts[3] === 'description') bytes = new TextEncoder().encode(JSON.stringify(moduleOpenApi(m, url.origin)));
      else if (Object.hasOwn(m.dataFiles, parts[3])) bytes = await g.node.peer.fetchBlob(m.dataFiles[parts[3]]!);
    } else if ((parts.length === 2 || parts.length === 3) && parts[0] === 'files' && parts[1]) {
      bytes = g.results.get(parts[1])?.bytes;
    } else {
      throw new FetchDeniedError(`${shown} is a URL of this gateway that names no module or result file`, { url: shown });
    }
  } catch (error) {
    if (hasCode(error, 'ERR_FETCH_DENIED')) throw error;
    throw failed();
  }
  if (!bytes || bytes.byteLength > limit) throw failed();
  return bytes;
}
