/**
 * Live migration over HTTP — our addition to the WasmIoT orchestrator API:
 *
 *   POST /file/manifest/:id/migrate   {"module": "<module id or name>", "device": "<device id or name>", "mode"?: "move" | "clone"}
 *   POST /file/manifest/:id/follow-me {"device": "<device id or name>"}
 *
 * Both answer 200 once the target serves, with what moved (`migration`, or `migrations`
 * for follow-me) and the deployment as `GET /file/manifest/:id` shows it, the step now on
 * the new device. A failed migration leaves the module serving where it was.
 */
import { InvalidParamsError } from '../../shared/errors.ts';
import type { MigrationResult } from '../../shared/orchestrator/migration.ts';
import type { GatewayContext } from './context.ts';
import { explain, parseJson, readBody, sendJson } from './http.ts';
import type { RouteContext, Router } from './router.ts';
import { deploymentView } from './views.ts';

/** How a migration's failures map to HTTP: wrong names are 400 in a body, 404 in the path. */
const MIGRATION_STATUS = { ERR_UNKNOWN_MODULE: 400, ERR_UNKNOWN_DEVICE: 400, ERR_MIGRATION_IN_PROGRESS: 409, ERR_MIGRATION_FAILED: 502, ERR_DEPLOYMENT_NOT_READY: 409 };

function text(body: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = body[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new InvalidParamsError(`"${key}" must be a non-empty string`, { field: key });
  return v.trim();
}

/** Register the migration routes on `router`. */
export function migrationRoutes(router: Router, g: GatewayContext): void {
  const { peer, orchestrator } = g.node;
  const readRequest = async (req: RouteContext['req']): Promise<Record<string, unknown>> => {
    const body = parseJson(await readBody(req, g.limits.jsonBytes));
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidParamsError('the body must be a JSON object');
    return body as Record<string, unknown>;
  };
  const named = (r: MigrationResult): Record<string, unknown> => ({ ...r, fromName: g.nameOf(r.from), toName: g.nameOf(r.to) });
  const current = (id: string, base: string): unknown =>
    deploymentView(orchestrator.get(id), base, (p) => g.nameOf(p), (m) => peer.registry.modules.get(m));

  router.on('POST', '/file/manifest/:id/migrate', async ({ req, res, params, base }) => {
    const deployment = orchestrator.get(params.id!).record; // 404 for an unknown deployment
    const result = await explain('Migration failed', async () => {
      const body = await readRequest(req);
      const mode = text(body, 'mode', false) ?? 'move';
      if (mode !== 'move' && mode !== 'clone') throw new InvalidParamsError('"mode" must be "move" or "clone"', { field: 'mode' });
      return orchestrator.migrate(deployment.id, text(body, 'module', true)!, text(body, 'device', true)!, { mode });
    }, MIGRATION_STATUS);
    sendJson(res, 200, { migration: named(result), deployment: current(deployment.id, base) });
  });

  router.on('POST', '/file/manifest/:id/follow-me', async ({ req, res, params, base }) => {
    const deployment = orchestrator.get(params.id!).record;
    const results = await explain('Migration failed', async () => {
      const body = await readRequest(req);
      return orchestrator.followMe(deployment.id, text(body, 'device', true)!);
    }, MIGRATION_STATUS);
    sendJson(res, 200, { migrations: results.map(named), deployment: current(deployment.id, base) });
  });
}
