/**
 * The supervisor half of the WasmIoT API, for the gateway's own device: its
 * descriptions (WasmIoT and W3C WoT), health, `POST /deploy`, request history (of this
 * device, or of others over RPC with `?device=`), result files, and
 * `/{deployment}/modules/{module}/{function}` — which runs the function wherever the
 * mesh placed that module, not only here.
 */
import { UnknownDeviceError } from '../../shared/orchestrator/errors.ts';
import { CHAIN_HOP_TIMEOUT_MS } from '../../shared/orchestrator/chain.ts';
import { hasCode } from '../../shared/errors.ts';
import type { HistoryEntry, HistoryQuery } from '../../shared/supervisor/history.ts';
import type { MeshMethods, ParamsOf } from '../../shared/rpc/methods.ts';
import type { CallInput, CallOutcome } from '../../shared/supervisor/supervisor.ts';
import { bytesInput, type GatewayContext, positionalArgs } from './context.ts';
import { deployNode } from './deploy-node.ts';
import type { UrlFetch } from './own-urls.ts';
import { explain, parseJson, readBody, sendBytes, sendJson, sendJsonText, UnknownFileError, UnknownRequestError } from './http.ts';
import { callAnswerJson } from './call-answer.ts';
import type { RouteContext, Router } from './router.ts';
import { type DeployedFunction, thingDescription } from './thing-description.ts';
import { healthOf, historyView, wasmiotDescription } from './views.ts';
import { hostReport } from './host-report.ts';

/** Errors after which a call is retried through the orchestrator (the placement moved). */
const MOVED = ['ERR_PEER_LEFT', 'ERR_PEER_UNREACHABLE', 'ERR_NOT_CONNECTED', 'ERR_DEPLOYMENT_NOT_FOUND'];
const DEPLOY_STATUS = { ERR_DEPLOYMENT_FAILED: 502, ERR_DEPLOYMENT_NOT_READY: 504, ERR_UNKNOWN_MODULE: 400, ERR_UNKNOWN_FUNCTION: 400, ERR_NO_PLACEMENT: 409 };

/** Register the supervisor routes; the function route matches almost anything, so it goes last. */
export function supervisorRoutes(router: Router, g: GatewayContext, options: { deployTimeoutMs: number; fetch: UrlFetch }): void {
  const { peer, orchestrator, supervisor } = g.node;
  const self = (): NonNullable<ReturnType<typeof peer.registry.devices.get>> => {
    const d = peer.registry.devices.get(peer.id);
    if (!d) throw new UnknownDeviceError('this device is not in the registry yet');
    return d;
  };

  router.on('GET', '/.well-known/wasmiot-device-description', ({ res }) => {
    const d = self();
    sendJson(res, 200, { ...wasmiotDescription(d), id: d.id, name: d.name, engine: d.engine, capabilities: d.capabilities, simulated: d.simulated ?? [] });
  });

  router.on('GET', '/.well-known/wot-thing-description', ({ res, base }) => {
    const functions: DeployedFunction[] = [];
    for (const m of supervisor.deployed()) {
      const record = peer.registry.modules.get(m.moduleId);
      for (const func of m.functions) {
        const description = record?.functions[func];
        if (description) functions.push({ deploymentId: m.deploymentId, module: m.name, func, description });
      }
    }
    sendJson(res, 200, thingDescription(self(), base, functions), { 'content-type': 'application/td+json' });
  });

  // The supervisors' health: what the 2026 orchestrators keep as a device's `health.report`.
  router.on('GET', '/health', ({ res }) => sendJson(res, 200, { ...(healthOf(peer.presenceOf(peer.id)) ?? { cpuUsage: 0, memoryUsage: 0, callsPerSecond: 0 }), ...hostReport() }));

  router.on('POST', '/deploy', async ({ req, res, query }) => {
    // Replacing a deployment that exists is said explicitly: `?replace=true` or `"replace": true`.
    const replace = query.get('replace') === 'true';
    const record = await explain('Deployment failed', async () => deployNode(g, parseJson(await readBody(req, g.limits.jsonBytes)), { timeoutMs: options.deployTimeoutMs, fetch: options.fetch, replace }), DEPLOY_STATUS);
    sendJson(res, 200, { status: 'success', deploymentId: record.id, revision: record.revision });
  });

  router.on('DELETE', '/deploy/:id', ({ res, params }) => {
    const removed = orchestrator.remove(params.id!);
    sendJson(res, 200, { status: 'success', deploymentId: removed.id });
  });

  /** Which peers a `?device=` names: this one by default, `all`, an id or a name. */
  const devicesOf = (query: URLSearchParams): string[] => {
    const device = query.get('device');
    if (!device || device === peer.id) return [peer.id];
    if (device === 'all') return [peer.id, ...peer.alive()];
    const known = peer.registry.devices.values().find((d) => d.id === device || d.name === device);
    if (!known) throw new UnknownDeviceError(`no device ${device}`, { device });
    return [known.id];
  };
  const historyOf = async (p: string, q: HistoryQuery): Promise<HistoryEntry[]> => (p === peer.id ? supervisor.history.query(q) : peer.call(p, 'supervisor.history', q));
  const view = (e: HistoryEntry, p: string, base: string): Record<string, unknown> => historyView(e, base, peer.id, p, g.nameOf(p), (h) => g.results.get(h) !== undefined);

  router.on('GET', '/request-history', async ({ res, query, base }) => {
    const q: HistoryQuery = { limit: Math.min(10_000, Math.max(1, Number(query.get('limit') ?? 100) || 100)) };
    for (const [key, field] of [['deployment', 'deploymentId'], ['module', 'moduleName'], ['function', 'functionName']] as const) {
      const v = query.get(key);
      if (v) q[field] = v;
    }
    const peers = devicesOf(query);
    const lists = await Promise.all(peers.map(async (p) => {
      try {
        return (await historyOf(p, q)).map((e) => view(e, p, base));
      } catch (error) {
        // With `all`, a peer that cannot answer is left out; asked alone, its error is the answer.
        if (peers.length === 1) throw error;
        return [];
      }
    }));
    const all = lists.flat().sort((a, b) => (b.startedAt as number) - (a.startedAt as number));
    sendJson(res, 200, all.slice(0, q.limit));
  });

  router.on('GET', '/request-history/:id', async ({ res, params, query, base }) => {
    const [p] = devicesOf(query);
    const id = params.id!;
    const entry = p === peer.id ? await supervisor.history.get(id) : (await peer.call(p!, 'supervisor.history', { limit: 10_000 })).find((e) => e.requestId === id);
    if (!entry) throw new UnknownRequestError(`no request ${id} in the history of ${g.nameOf(p!)}`, { requestId: id });
    sendJson(res, 200, view(entry, p!, base));
  });

  const file = ({ res, params }: RouteContext): void => {
    const kept = g.results.get(params.hash!);
    if (!kept) throw new UnknownFileError(`no result file ${params.hash} is kept (they are kept in memory, newest first)`, { sha256: params.hash });
    sendBytes(res, 200, kept.bytes, kept.mediaType, { 'content-disposition': `inline; filename="${kept.name.replace(/[^\w.-]/g, '_')}"` });
  };
  router.on('GET', '/files/:hash', file);
  router.on('GET', '/files/:hash/:name', file);

  const call = async (ctx: RouteContext): Promise<void> => {
    const { deployment, module, function: fn } = ctx.params as { deployment: string; module: string; function: string };
    const target = g.target(deployment, module);
    const description = target?.functions[fn];
    // A GET's input is all in its query: no wait for a body on the hot route.
    const input = g.queryFields(ctx) ?? (await g.requestFields(ctx));
    const bytes = bytesInput(input, description);
    const args = positionalArgs(input, description);
    let outcome: CallOutcome | undefined;
    let ranOn = target?.peer;
    // A module with a hot standby on another peer: the orchestrator's call fails over to it.
    if (target && !(target.standby && target.peer !== peer.id)) {
      try {
        if (target.peer === peer.id) {
          // Here: straight to the supervisor (no RPC layer, and the history records the HTTP method).
          const local: CallInput = { args, files: input.files, method: ctx.req.method ?? 'GET' };
          if (bytes) local.input = bytes;
          outcome = await supervisor.call(target.deploymentId, target.module, fn, local);
        } else {
          const params: ParamsOf<MeshMethods, 'supervisor.call'> = { deploymentId: target.deploymentId, module: target.module, fn, args, files: input.files };
          if (bytes) params.input = bytes;
          outcome = await peer.call(target.peer, 'supervisor.call', params, { timeoutMs: CHAIN_HOP_TIMEOUT_MS });
        }
      } catch (error) {
        if (!MOVED.some((code) => hasCode(error, code))) throw error;
      }
    }
    if (!outcome) {
      outcome = await orchestrator.call(deployment, module, fn, { args, files: input.files, ...(bytes ? { input: bytes } : {}) });
      ranOn = g.target(deployment, module)?.peer ?? peer.id;
    }
    const answer = g.answer(ctx.base, ranOn!, outcome, description, { deploymentId: target?.deploymentId ?? deployment, module: target?.module ?? module });
    sendJsonText(ctx.res, callAnswerJson(answer, outcome, g.deviceJson(ranOn!)));
  };
  router.on('GET', '/:deployment/modules/:module/:function', call);
  router.on('POST', '/:deployment/modules/:module/:function', call);
}
