/**
 * WasmIoT 2026's device routes: one device by name (or id), deleting device records,
 * rescanning (`discovery/reset`), and the blacklist — a blacklisted device gets no new
 * placements and its steps move, because every orchestrator counts it out of the peers
 * that may host steps (the registry's `blacklist` map).
 */
import { UnknownDeviceError } from '../../shared/orchestrator/errors.ts';
import type { DeviceDescription } from '../../shared/registry/schema.ts';
import type { GatewayContext } from './context.ts';
import { hostReport } from './host-report.ts';
import { sendJson } from './http.ts';
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

  router.on('POST', '/file/device/discovery/reset', async ({ res }) => {
    if (own && !peer.registry.devices.get(peer.id)) peer.registry.devices.set(own);
    const found = await Promise.all(peer.alive().map(async (p) => {
      try {
        const d = await peer.call(p, 'peer.describe', {}, { timeoutMs: 5000 });
        if (!peer.registry.devices.get(p)) peer.registry.devices.set(d);
        return true;
      } catch {
        return false;
      }
    }));
    sendJson(res, 200, { devices: peer.registry.devices.size, answered: found.filter(Boolean).length + 1 });
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
