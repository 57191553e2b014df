/**
 * WasmIoT 2026's device routes: one device by name (or id), deleting device records,
 * rescanning (`discovery/reset`), registering a device by name or address (a peer of the
 * mesh whose record was deleted), and the blacklist — a blacklisted device gets no new
 * placements and its steps move, because every orchestrator counts it out of the peers
 * that may host steps (the registry's `blacklist` map).
 */
import { InvalidParamsError } from '../../shared/errors.ts';
import { UnknownDeviceError } from '../../shared/orchestrator/errors.ts';
import { isPlainObject } from '../../shared/protocol/check.ts';
import type { DeviceDescription } from '../../shared/registry/schema.ts';
import type { GatewayContext } from './context.ts';
import { hostReport } from './host-report.ts';
import { explain, JoinThroughMeshError, parseJson, readBody, sendEmpty, sendJson } from './http.ts';
import type { RouteContext, Router } from './router.ts';
import { deviceView, stepsByDevice } from './views.ts';

/** Register the device routes (before the orchestrator's, which they extend). */
export function deviceRoutes(router: Router, g: GatewayContext): void {
  const { peer } = g.node;
  // Our own description as we started, to announce again after a rescan.
  const own = peer.registry.devices.get(peer.id);

  const find = (ref: string): DeviceDescription => {
    const all = peer.registry.devices.values();
    const d = all.find((x) => x.name === ref) ?? all.find((x) => x.id === ref);
    if (!d) throw new UnknownDeviceError(`no device ${ref}`, { device: ref });
    return d;
  };

  /** One element of `GET /file/device`, as that route shows it. */
  const view = (d: DeviceDescription, ctx: RouteContext): Record<string, unknown> => {
    const alive = d.id === peer.id || peer.alive().includes(d.id);
    const self = d.id === peer.id;
    const communication = self ? { addresses: [ctx.req.socket.localAddress ?? '127.0.0.1'], port: ctx.req.socket.localPort ?? null } : { addresses: d.addresses ?? [], port: null };
    const steps = stepsByDevice(peer.registry.deployments.values()).get(d.id) ?? [];
    return deviceView(d, alive, peer.presenceOf(d.id), steps, communication, { host: self ? hostReport() : null, blacklisted: peer.registry.blacklist.get(d.id) !== undefined });
  };

  router.on('GET', '/file/device/:name', (ctx) => sendJson(ctx.res, 200, view(find(ctx.params.name!), ctx)));

  router.on('DELETE', '/file/device/:name', ({ res, params }) => {
    const d = find(params.name!);
    peer.registry.devices.delete(d.id);
    sendJson(res, 200, { deletedCount: 1 });
  });

  // Like the reference, deleting forgets records; a rescan brings back the devices that are there.
  router.on('DELETE', '/file/device', ({ res }) => {
    const ids = peer.registry.devices.keys();
    peer.registry.transact(() => ids.forEach((id) => peer.registry.devices.delete(id)));
    sendJson(res, 200, { deletedCount: ids.length });
  });

  /** What every peer in the mesh says of itself now, by id (peers that do not answer are left out). */
  const describeAlive = async (): Promise<Map<string, DeviceDescription>> => {
    const found = new Map<string, DeviceDescription>();
    if (own) found.set(peer.id, own);
    await Promise.all(peer.alive().map(async (p) => {
      try {
        found.set(p, await peer.call(p, 'peer.describe', {}, { timeoutMs: 5000 }));
      } catch {
        // A peer that does not answer is not there to be found.
      }
    }));
    return found;
  };

  router.on('POST', '/file/device/discovery/reset', async ({ res }) => {
    const found = await describeAlive();
    for (const [id, d] of found) if (!peer.registry.devices.get(id)) peer.registry.devices.set(d);
    sendJson(res, 200, { devices: peer.registry.devices.size, answered: found.size });
  });

  // The reference's manual registration, for a device discovery did not bring back: a peer of
  // the mesh, found by its name or one of its addresses, gets its record again (204). A device
  // that is not in the mesh cannot be deployed to, so it is refused saying how it joins
  // (ADR 0022, "Manual registration").
  router.on('POST', '/file/device/discovery/register', async ({ req, res }) => {
    const body = await explain('Failed registering device', async () => {
      const b = parseJson(await readBody(req, g.limits.jsonBytes));
      if (!isPlainObject(b) || typeof b.name !== 'string' || b.name === '') throw new InvalidParamsError('a registration needs {name, addresses?, port?}');
      if (b.addresses !== undefined && !(Array.isArray(b.addresses) && b.addresses.every((a) => typeof a === 'string'))) throw new InvalidParamsError('addresses must be an array of strings');
      if (b.port !== undefined && !(Number.isInteger(b.port) && (b.port as number) > 0 && (b.port as number) < 65536)) throw new InvalidParamsError('port must be an integer 1..65535');
      return b as { name: string; addresses?: string[] };
    });
    const found = [...(await describeAlive()).values()];
    const match = found.find((d) => d.name === body.name) ?? found.find((d) => (d.addresses ?? []).some((a) => body.addresses?.includes(a)));
    if (!match) {
      throw new JoinThroughMeshError(
        `device ${body.name.slice(0, 100)} is not in the mesh: devices join it themselves — open the PWA's join URL on the device, or run \`liquidmesh peer --pwa <join URL>\` there — and then appear in GET /file/device`,
        { device: body.name.slice(0, 100) },
      );
    }
    if (!peer.registry.devices.get(match.id)) peer.registry.devices.set(match);
    sendEmpty(res, 204);
  });

  router.on('POST', '/file/device/:id/blacklist', (ctx) => {
    const d = find(ctx.params.id!);
    if (!peer.registry.blacklist.get(d.id)) peer.registry.blacklist.set({ id: d.id, since: Date.now(), by: peer.id });
    sendJson(ctx.res, 200, view(d, ctx));
  });

  router.on('POST', '/file/device/:id/unblacklist', (ctx) => {
    const d = find(ctx.params.id!);
    peer.registry.blacklist.delete(d.id);
    sendJson(ctx.res, 200, view(d, ctx));
  });
}
