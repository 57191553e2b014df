/**
 * Zones and risk levels (WasmIoT 2026): ODRL cards at `/nodeCards`, `/dataSourceCards`,
 * `/moduleCards` and `/zoneRiskLevels` (GET lists, POST stores one, DELETE removes them
 * all), kept in the registry's `cards` map so every orchestrator of the mesh reads the same
 * ones, and `/deploymentCertificates[/{id}]`: each deployment's validation against them
 * (shared/orchestrator/policy.ts). Certificates are computed from the registry when asked,
 * so they are never stale and there is nothing to delete.
 */
import { InvalidParamsError } from '../../shared/errors.ts';
import { cardKey, certificate, parseDataSourceCard, parseModuleCard, parseNodeCard, parseZoneCard, policyCards } from '../../shared/orchestrator/policy.ts';
import { isPlainObject } from '../../shared/protocol/check.ts';
import type { CardRecord } from '../../shared/registry/schema.ts';
import type { GatewayContext } from './context.ts';
import { explain, parseJson, readBody, sendJson } from './http.ts';
import { plannedView } from './planned.ts';
import type { Router } from './router.ts';

type Obj = Record<string, unknown>;
type Kind = CardRecord['kind'];

const ROUTES: [string, Kind][] = [['/nodeCards', 'node'], ['/dataSourceCards', 'datasource'], ['/moduleCards', 'module'], ['/zoneRiskLevels', 'zones']];

/** Register the card and certificate routes. */
export function cardRoutes(router: Router, g: GatewayContext): void {
  const { peer, orchestrator } = g.node;
  const records = (kind: Kind): CardRecord[] => peer.registry.cards.values().filter((c) => c.kind === kind);

  /** A device id for a card's device reference: an id, or a device name. */
  const deviceId = (ref: string): string => peer.registry.devices.values().find((d) => d.id === ref || d.name === ref)?.id ?? ref;
  /** A module id for a card's module reference: an id, a name or name@version. */
  const moduleId = (ref: string): string => {
    try {
      return orchestrator.packages.resolve(ref).id;
    } catch {
      return ref;
    }
  };

  /** Check a card, point its references at real ids (as the reference GUI does), and key it. */
  const accept = (kind: Kind, raw: unknown): CardRecord => {
    if (!isPlainObject(raw)) throw new InvalidParamsError('a card is a JSON object (ODRL)');
    const card = structuredClone(raw) as Obj;
    let key: string;
    if (kind === 'node') {
      const c = parseNodeCard(card);
      if (typeof c === 'string') throw new InvalidParamsError(c);
      (card.asset as Obj[])[0]!.uid = deviceId(c.deviceId);
      key = cardKey(kind, { ...c, deviceId: deviceId(c.deviceId) });
    } else if (kind === 'datasource') {
      const c = parseDataSourceCard(card);
      if (typeof c !== 'string') {
        const relation = ((card.asset as Obj[])[0]!.relation ?? []) as unknown;
        for (const r of Array.isArray(relation) ? relation : [relation]) {
          if (isPlainObject(r) && r.type === 'nodeid') r.value = deviceId(c.deviceId);
          else if (isPlainObject(r) && typeof r.nodeid === 'string') r.nodeid = deviceId(c.deviceId);
        }
      }
      const again = parseDataSourceCard(card);
      if (typeof again === 'string') throw new InvalidParamsError(again);
      key = cardKey(kind, again);
    } else if (kind === 'module') {
      const c = parseModuleCard(card);
      if (typeof c === 'string') throw new InvalidParamsError(c);
      (card.permission as Obj[])[0]!.target = moduleId(c.moduleId);
      key = cardKey(kind, { ...c, moduleId: moduleId(c.moduleId) });
    } else {
      const z = parseZoneCard(card);
      if (typeof z === 'string') throw new InvalidParamsError(z);
      key = cardKey(kind, null);
    }
    return { id: key, kind, json: JSON.stringify(card), updatedAt: Date.now() };
  };

  for (const [path, kind] of ROUTES) {
    router.on('GET', path, ({ res }) => sendJson(res, 200, records(kind).map((r) => ({ _id: r.id, ...(JSON.parse(r.json) as Obj) }))));
    router.on('POST', path, async ({ req, res }) => {
      const record = await explain('Failed saving card', async () => accept(kind, parseJson(await readBody(req, g.limits.jsonBytes))));
      peer.registry.cards.set(record);
      // 200, as the reference: its GUI counts only a 200 as saved.
      sendJson(res, 200, { _id: record.id });
    });
    router.on('DELETE', path, ({ res }) => {
      const ids = records(kind).map((r) => r.id);
      peer.registry.transact(() => ids.forEach((id) => peer.registry.cards.delete(id)));
      sendJson(res, 200, { deletedCount: ids.length });
    });
  }

  // A manifest has a certificate from its creation on (the reference GUI reads it right
  // after creating one): a pending one is validated where the mesh would place it now.
  const certificateOf = (id: string): Obj | null => {
    const v = orchestrator.get(id);
    const r = (plannedView(g, v, true) ?? v).record;
    if (!r.steps || r.steps.length === 0) return null;
    return { ...certificate(r.id, r.steps, r.solution, policyCards(peer.registry.cards.values()), new Date(r.updatedAt)) };
  };
  router.on('GET', '/deploymentCertificates', ({ res }) => sendJson(res, 200, orchestrator.list().map((v) => certificateOf(v.record.id)).filter((c) => c !== null)));
  router.on('GET', '/deploymentCertificates/:id', ({ res, params }) => {
    const c = certificateOf(params.id!);
    if (!c) throw new InvalidParamsError(`deployment ${params.id} has no steps that resolve: it has no certificate`, { deployment: params.id });
    sendJson(res, 200, c);
  });
}
