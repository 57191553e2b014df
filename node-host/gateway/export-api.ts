/**
 * `GET /export` and `POST /import` (the Rust orchestrator's dump and restore): one JSON
 * archive with every module record, every deployment's manifest and state, the blacklist,
 * the zone and risk-level cards, and every blob those modules need (binaries and data files, base64), so a fresh mesh
 * can take it all over. Devices are not exported: they belong to the mesh they run in.
 * On import every blob is checked against its sha256 before it is stored; deployments that
 * were deployed are deployed again, on this mesh's devices, with this peer coordinating.
 */
import { InvalidParamsError } from '../../shared/errors.ts';
import { isPlainObject } from '../../shared/protocol/check.ts';
import { checkBlacklistEntry, checkCard, checkModule, type DeploymentRecord, type ModuleRecord } from '../../shared/registry/schema.ts';
import type { GatewayContext } from './context.ts';
import { explain, mediaTypeOf, parseJson, readBody, sendJson } from './http.ts';
import { parseMultipart } from './multipart.ts';
import type { Router } from './router.ts';

/** The archive's `format` and `version`. */
export const ARCHIVE_FORMAT = 'liquidmesh-export';
export const ARCHIVE_VERSION = 1;

const ACTIVE = new Set(['deploying', 'ready', 'rolled-back']);
const SHA256 = /^[0-9a-f]{64}$/;

/** What `POST /import` did. */
interface ImportSummary {
  modules: number;
  blobs: number;
  deployments: number;
  redeployed: string[];
  skipped: { kind: string; id: string; reason: string }[];
}

/** Register `/export` and `/import`. */
export function exportRoutes(router: Router, g: GatewayContext): void {
  const { peer, orchestrator } = g.node;

  router.on('GET', '/export', async ({ res }) => {
    const modules = peer.registry.modules.values();
    const hashes = new Set(modules.flatMap((m) => [m.id, ...Object.values(m.dataFiles)]));
    const blobs: Record<string, string> = {};
    for (const h of hashes) blobs[h] = Buffer.from(await peer.fetchBlob(h)).toString('base64');
    const deployments = peer.registry.deployments.values().map((v) => v.record).filter((r) => r.status !== 'deleted');
    sendJson(res, 200, {
      format: ARCHIVE_FORMAT,
      version: ARCHIVE_VERSION,
      exportedAt: new Date().toISOString(),
      exportedBy: { id: peer.id, name: g.nameOf(peer.id) },
      modules,
      deployments,
      blacklist: peer.registry.blacklist.values(),
      cards: peer.registry.cards.values(),
      blobs,
    }, { 'content-disposition': 'attachment; filename="liquidmesh-export.json"' });
  });

  router.on('POST', '/import', async ({ req, res }) => {
    const summary = await explain('Failed importing', async () => {
      const bytes = mediaTypeOf(req) === 'multipart/form-data'
        ? (await parseMultipart(req.headers, await readBody(req, g.limits.bodyBytes))).files[0]?.bytes
        : await readBody(req, g.limits.bodyBytes);
      if (!bytes) throw new InvalidParamsError('send the archive as the body or as a file part');
      return restore(parseJson(Buffer.from(bytes)));
    });
    sendJson(res, 200, summary);
  });

  const restore = async (archive: unknown): Promise<ImportSummary> => {
    if (!isPlainObject(archive) || archive.format !== ARCHIVE_FORMAT) throw new InvalidParamsError(`not a ${ARCHIVE_FORMAT} archive`);
    if (archive.version !== ARCHIVE_VERSION) throw new InvalidParamsError(`archive version ${String(archive.version)} is not ${ARCHIVE_VERSION}`);
    const { modules, deployments, blobs, blacklist } = archive;
    if (!Array.isArray(modules) || !Array.isArray(deployments) || !isPlainObject(blobs)) throw new InvalidParamsError('an archive has modules, deployments and blobs');
    // Everything is checked before anything is written: a bad archive changes nothing.
    const checkedModules: ModuleRecord[] = modules.map((m, i) => {
      const r = checkModule(m);
      if (!r.ok) throw new InvalidParamsError(`modules[${i}]: ${r.error}`);
      return r.value;
    });
    const needed = new Set(checkedModules.flatMap((m) => [m.id, ...Object.values(m.dataFiles)]));
    const blobBytes = new Map<string, Uint8Array>();
    for (const [hash, text] of Object.entries(blobs)) {
      if (!SHA256.test(hash) || typeof text !== 'string') throw new InvalidParamsError(`blob ${hash.slice(0, 80)} is not a sha256 with base64 bytes`);
      blobBytes.set(hash, new Uint8Array(Buffer.from(text, 'base64')));
    }
    for (const h of needed) if (!blobBytes.has(h) && !(await peer.store.blobs.has(h))) throw new InvalidParamsError(`the archive lacks blob ${h}`);
    const records = deployments.map((d, i) => {
      if (!isPlainObject(d) || typeof d.id !== 'string' || typeof d.name !== 'string' || d.manifest === undefined) throw new InvalidParamsError(`deployments[${i}] needs id, name and manifest`);
      return d as unknown as DeploymentRecord;
    });
    const summary: ImportSummary = { modules: 0, blobs: 0, deployments: 0, redeployed: [], skipped: [] };
    // put() verifies each blob against its hash (ERR_HASH_MISMATCH).
    for (const [hash, b] of blobBytes) {
      await peer.store.blobs.put(b, hash);
      summary.blobs++;
    }
    for (const m of checkedModules) {
      if (peer.registry.modules.get(m.id)) {
        summary.skipped.push({ kind: 'module', id: m.id, reason: 'exists' });
        continue;
      }
      // This peer holds the blobs now, so it is the one other peers fetch them from.
      peer.registry.modules.set({ ...m, publishedBy: peer.id });
      summary.modules++;
    }
    for (const card of Array.isArray(archive.cards) ? archive.cards : []) if (checkCard(card).ok && !peer.registry.cards.get((card as { id: string }).id)) peer.registry.cards.set(card as never);
    for (const entry of Array.isArray(blacklist) ? blacklist : []) if (checkBlacklistEntry(entry).ok && peer.registry.devices.get((entry as { id: string }).id)) peer.registry.blacklist.set(entry as never);
    const now = Date.now();
    for (const r of records) {
      if (peer.registry.deployments.get(r.id)) {
        summary.skipped.push({ kind: 'deployment', id: r.id, reason: 'exists' });
        continue;
      }
      peer.registry.deployments.put({ id: r.id, name: r.name, manifest: r.manifest, solution: {}, revision: 0, coordinator: peer.id, status: 'pending', createdAt: typeof r.createdAt === 'number' ? r.createdAt : now, updatedAt: now });
      summary.deployments++;
      if (!ACTIVE.has(r.status)) continue;
      try {
        orchestrator.deploy(r.manifest, { id: r.id, replace: true });
        summary.redeployed.push(r.id);
      } catch (error) {
        summary.skipped.push({ kind: 'deployment', id: r.id, reason: `not deployed again: ${(error as Error).message}` });
      }
    }
    return summary;
  };
}
