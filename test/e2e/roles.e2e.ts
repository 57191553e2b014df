// Roles end to end over real WebRTC, between separate processes: an owner, two operators,
// three devices (two Node peers and a headless Chromium) and a rogue member — a process
// built from the product's own shared/ code (roles/mesh-actor.ts) that holds the mesh
// secret and a `device` grant and writes into its registry document and calls RPC
// methods directly, as an attacker with the source would. Each attack fails with a named
// error or is undone on every honest peer; a device cannot deploy, an operator can; the
// camera of node-1 is offered to operator-1 alone; node-2 hosts only signed modules; and
// the owner's revocation cuts the rogue off within the liveness timeout.
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { DeploymentRecord, PhaseRecord } from '../../shared/registry/schema.ts';
import { DEFAULT_TIMING } from '../../shared/mesh/peer.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { BrowserPeer, NodePeerProcess, useE2eServices } from './harness.ts';

requireLoopbackNamespace();

const ACTOR = fileURLToPath(new URL('./roles/mesh-actor.ts', import.meta.url));
const MESH = 'roles-e2e';
const SECRET = 'roles-e2e-secret';
/** Seven processes and a browser start at once: on a loaded 2-core machine each takes a while. */
const STARTUP_MS = 90_000;

type Deployment = DeploymentRecord & { phases: Record<string, PhaseRecord> };
type Registry = { devices: { id: string; name: string }[]; modules: { id: string; name: string }[]; deployments: DeploymentRecord[] };

/** The named error a control command failed with (it must fail). */
async function errorOf(run: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await run;
  } catch (error) {
    return JSON.parse((error as Error).message) as { code: string; message: string };
  }
  throw new Error('expected the command to fail');
}

/** The stable code a control command failed with (it must fail). */
async function codeOf(run: Promise<unknown>): Promise<string> {
  return (await errorOf(run)).code;
}

describe('Roles over WebRTC: a rogue member with the mesh secret', () => {
  const e2e = useE2eServices('e2e-roles-timings.json');
  const { browsers, nodes, timings } = e2e;

  it('is refused or undone everywhere; devices cannot deploy, operators can; the camera only with a grant; revocation cuts it off', async () => {
    const t0 = Date.now();
    const net = ['--signal', e2e.signal.url, '--mesh', MESH, '--secret', SECRET];
    const owner = new NodePeerProcess('owner', [...net, '--as', 'owner'], { script: ACTOR });
    nodes.push(owner);
    await owner.ready(STARTUP_MS);
    const invite = (role: string): Promise<string> => owner.command<string>('invite', { role });

    // Everything but node-1 starts at once; node-1 needs operator-1's id for its offer.
    const op1 = new NodePeerProcess('operator-1', [...net, '--invitation', await invite('operator')]);
    const op2 = new NodePeerProcess('operator-2', [...net, '--invitation', await invite('operator')]);
    // node-2's owner hosts only modules signed by a publisher nobody here holds the key of.
    const node2 = new NodePeerProcess('node-2', [...net, '--invitation', await invite('device'), '--require-signed', 'ab'.repeat(32)]);
    const rogue = new NodePeerProcess('rogue', [...net, '--as', 'member', '--invitation', await invite('device')], { script: ACTOR });
    nodes.push(op1, op2, node2, rogue);
    const chromiumRoles = { mesh: MESH, owners: [owner.key], invitation: await invite('device') };
    const launching = BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'chromium-1', params: { signal: e2e.signal.url, mesh: MESH, secret: SECRET }, roles: chromiumRoles });
    // Closed after the suite even when a later step fails (its own failure is awaited below).
    launching.then((b) => browsers.push(b), () => undefined);
    await op1.ready(STARTUP_MS);
    // node-1's owner offers its camera to operator-1 only.
    const node1 = new NodePeerProcess('node-1', [...net, '--invitation', await invite('device'), '--offer', `camera=operator:${op1.id}`]);
    nodes.push(node1);
    const [chromium] = await Promise.all([launching, op2.ready(STARTUP_MS), node1.ready(STARTUP_MS), node2.ready(STARTUP_MS), rogue.ready(STARTUP_MS)]);
    const honest = [owner, op1, op2, node1, node2];
    const everyone = [...honest, rogue];
    await waitFor(async () => {
      const views = await Promise.all([...everyone.map((p) => p.view()), chromium!.view()]);
      return views.every((v) => v.alive.length === 6 && v.devices.length === 7);
    }, 'seven members to see each other', 90_000);
    timings.meshMs = Date.now() - t0;
    const chromiumId = (await chromium!.view()).id;
    const honestRegistries = async (): Promise<Registry[]> => [
      await owner.command<Registry>('registry'),
      ...(await Promise.all([op1, node1].map(async (p) => ({ devices: (await p.view()).devices, modules: await p.command<{ id: string; name: string }[]>('modules'), deployments: [] as DeploymentRecord[] })))),
      await chromium!.run((lm) => ({
        devices: lm.peer.registry.devices.values().map((d) => ({ id: d.id, name: d.name })),
        modules: lm.peer.registry.modules.values().map((m) => ({ id: m.id, name: m.name })),
        deployments: lm.peer.registry.deployments.values().map((d) => d.record),
      })),
    ];

    timings.startedMs = Date.now() - t0;
    // operator-1 publishes and deploys; a device cannot deploy.
    const modules: Record<string, string> = {};
    for (const module of ['fibo', 'counter-c', 'grayscale', 'camera']) modules[module] = (await op1.command<{ id: string }>('publish', { module })).id;
    await waitFor(async () => (await Promise.all(honest.map((p) => p.command<unknown[]>('modules').catch(() => [])))).slice(1).every((m) => m.length === 4), 'the modules to reach every Node peer');
    expect(await codeOf(node1.command('deploy', { manifest: { name: 'by-a-device', sequence: [{ module: 'fibo', func: 'fibo', device: 'node-1' }] } }))).to.equal('ERR_WRITE_FORBIDDEN');
    const fib = await op1.command<DeploymentRecord>('deploy', { manifest: { name: 'fib', sequence: [{ module: 'fibo', func: 'fibo', device: 'node-1' }] } });
    const cam = await op1.command<DeploymentRecord>('deploy', { manifest: { name: 'cam', sequence: [{ module: 'camera', func: 'take_image_predefined_path', device: 'node-1' }] } });
    for (const d of [fib, cam]) expect((await op1.command<Deployment>('wait', { deployment: d.id })).status).to.equal('ready');
    expect((await op1.command<{ value: unknown }>('execute', { deployment: fib.id, args: [12] })).value).to.equal(233);

    timings.deployedMs = Date.now() - t0;
    // The camera grant: operator-1 takes a picture through node-1; operator-2 cannot place the camera anywhere.
    const picture = await op1.command<{ files: { name: string; size: number }[]; steps: { peer: string }[] }>('execute', { deployment: cam.id });
    expect(picture.files.map((f) => f.name)).to.deep.equal(['image.jpeg']);
    expect(picture.files[0]!.size).to.be.above(100);
    expect(picture.steps.map((s) => s.peer)).to.deep.equal([node1.id]);
    for (const device of ['node-1', undefined]) {
      const step = { module: 'camera', func: 'take_image_predefined_path', ...(device ? { device } : {}) };
      expect(await codeOf(op2.command('deploy', { manifest: { name: 'cam-2', sequence: [step] } }))).to.equal('ERR_CAPABILITY_NOT_OFFERED');
    }
    // Written past placement by a key the camera is not offered to (the owner's, with the source), node-1 itself refuses the import.
    const forcedCam: DeploymentRecord = { ...cam, id: 'forced-cam', name: 'forced-cam', coordinator: owner.id, revision: 1 };
    delete forcedCam.reason;
    await owner.command('forge', { map: 'deployments', key: forcedCam.id, value: forcedCam });
    const phaseOf = async (deployment: string, peer: string): Promise<string> => {
      const view = await op1.command<Deployment>('deployment', { deployment }).catch(() => undefined);
      const phase = view?.phases[`0/${peer}`];
      return phase ? `${phase.phase} ${phase.reason ?? ''}` : '';
    };
    await waitFor(async () => (await phaseOf(forcedCam.id, node1.id)).startsWith('failed'), 'node-1 to refuse the forced camera step', 30_000);
    expect(await phaseOf(forcedCam.id, node1.id)).to.include('ERR_IMPORT_DENIED').and.include('camera.takeImageStaticSize');

    timings.cameraMs = Date.now() - t0;
    // node-2 hosts only signed modules: placement skips it, and a step forced onto it fails there before it runs.
    const unsignedPin = await errorOf(op1.command('deploy', { manifest: { name: 'unsigned', sequence: [{ module: 'fibo', func: 'fibo', device: 'node-2' }] } }));
    expect(unsignedPin.code).to.equal('ERR_CAPABILITY_NOT_OFFERED');
    expect(unsignedPin.message).to.match(/sign/);
    await owner.command('forge', { map: 'deployments', key: 'forced-unsigned', value: { ...fib, id: 'forced-unsigned', name: 'forced-unsigned', coordinator: owner.id, solution: { '0': node2.id } } });
    await waitFor(async () => (await phaseOf('forced-unsigned', node2.id)).startsWith('failed'), 'node-2 to refuse the unsigned module', 30_000);
    expect(await phaseOf('forced-unsigned', node2.id)).to.include('ERR_MODULE_UNSIGNED');

    timings.unsignedMs = Date.now() - t0;
    // 1. Request history (arguments and results) is for operators.
    expect(await codeOf(rogue.command('rpc', { to: node1.id, method: 'supervisor.history', params: {} }))).to.equal('ERR_ROLE_REQUIRED');
    // 2. No pictures through node-1's camera deployment, directly or as a chain.
    expect(await codeOf(rogue.command('rpc', { to: node1.id, method: 'supervisor.call', params: { deploymentId: cam.id, module: 'camera', fn: 'take_image_predefined_path' } }))).to.equal('ERR_ROLE_REQUIRED');
    expect(await codeOf(rogue.command('rpc', { to: node1.id, method: 'chain.run', params: { deploymentId: cam.id } }))).to.equal('ERR_ROLE_REQUIRED');

    // 3–8, written straight into the rogue's document with its own valid signature.
    const fakeModule = 'e'.repeat(64);
    const node1Plain = await rogue.command<Record<string, unknown>>('raw', { map: 'devices', key: node1.id });
    const roguePlain = await rogue.command<Record<string, unknown>>('raw', { map: 'devices', key: rogue.id });
    const sizeBefore = await owner.command<number>('docSize');
    const attacks: [string, Record<string, unknown>][] = [
      // Its own camera module, deployed onto chromium-1.
      ['forge', { map: 'modules', key: fakeModule, value: { id: fakeModule, name: 'camera', version: '9.0.0', size: 10, exports: [], imports: [], functions: {}, dataFiles: {}, publishedBy: rogue.id, publishedAt: 1 } }],
      ['forge', { map: 'deployments', key: 'rogue-cam', value: { ...cam, id: 'rogue-cam', name: 'rogue-cam', coordinator: rogue.id, solution: { '0': chromiumId } } }],
      // fibo's step placed on itself (it answers 666 to whatever reaches it).
      ['forge', { map: 'deployments', key: fib.id, value: { ...fib, solution: { '0': rogue.id }, revision: fib.revision + 1 } }],
      // counter's and grayscale's module records deleted.
      ['erase', { map: 'modules', key: modules['counter-c']! }],
      ['erase', { map: 'modules', key: modules.grayscale! }],
      // node-1 renamed.
      ['forge', { map: 'devices', key: node1.id, value: { ...node1Plain, name: 'pwned' } }],
      // The name chromium-1 claimed for itself.
      ['forge', { map: 'trust', key: 'name/chromium-1', value: { id: 'name/chromium-1', name: 'chromium-1', key: rogue.key, at: Date.now() } }],
      ['forge', { map: 'devices', key: rogue.id, value: { ...roguePlain, name: 'chromium-1' } }],
      // 900 KB of junk, an object with a signature spelled in hex where signed bytes belong (removed everywhere, not copied on).
      ['forge', { map: 'cards', key: 'junk', sign: false, value: { id: 'junk', junk: 'x'.repeat(900_000), _a: `${rogue.key}${'0'.repeat(128)}` } }],
    ];
    for (const [cmd, args] of attacks) await rogue.command(cmd, args);

    // Undone on every honest peer, and written back into the rogue's own document by them.
    await waitFor(async () => {
      for (const r of await honestRegistries()) {
        const names = new Map(r.devices.map((d) => [d.id, d.name]));
        if (names.get(node1.id) !== 'node-1' || names.get(rogue.id) !== 'rogue') return false;
        const published = r.modules.map((m) => m.name).sort();
        if (published.join() !== 'camera,counter-c,fibo,grayscale') return false;
      }
      const raw = (key: string, map = 'modules') => rogue.command<Record<string, unknown> | null>('raw', { map, key });
      return (await raw(modules['counter-c']!)) !== null && (await raw(modules.grayscale!)) !== null && (await raw(fakeModule)) === null
        && (await raw('junk', 'cards')) === null && (await raw('rogue-cam', 'deployments')) === null
        && (await raw(node1.id, 'devices'))?.name === 'node-1' && ((await raw(fib.id, 'deployments'))?.solution as Record<string, string>)['0'] === node1.id;
    }, 'every rogue write to be undone', 30_000);
    const chromiumView = await chromium!.run((lm) => ({
      deployments: lm.peer.registry.deployments.keys(),
      hosted: ((lm as unknown as { supervisor?: { deployed(): { deploymentId: string }[] } }).supervisor?.deployed() ?? []).map((d) => d.deploymentId),
      bytes: JSON.stringify(lm.peer.registry.toJSON()).length,
    }));
    expect(chromiumView.deployments).to.not.include('rogue-cam');
    expect(chromiumView.hosted).to.not.include('rogue-cam');
    expect(chromiumView.bytes).to.be.below(300_000);
    expect((await owner.command<number>('docSize')) - sizeBefore).to.be.below(100_000);

    timings.undoneMs = Date.now() - t0;
    // fibo still answers from node-1, and a manifest pinned to chromium-1 runs on chromium-1, never on the rogue.
    const again = await op1.command<{ value: unknown; steps: { peer: string }[] }>('execute', { deployment: fib.id, args: [10] });
    expect(again.value).to.equal(89);
    expect(again.steps.map((s) => s.peer)).to.deep.equal([node1.id]);
    const pinned = await op1.command<DeploymentRecord>('deploy', { manifest: { name: 'pinned', sequence: [{ module: 'fibo', func: 'fibo', device: 'chromium-1' }] } });
    expect(pinned.solution['0']).to.equal(chromiumId);
    expect((await op1.command<Deployment>('wait', { deployment: pinned.id })).status).to.equal('ready');
    expect((await op1.command<{ value: unknown }>('execute', { deployment: pinned.id, args: [7] })).value).to.equal(21);
    expect((await rogue.command<{ hijacked: number }>('status')).hijacked).to.equal(0);

    timings.pinnedMs = Date.now() - t0;
    // The owner revokes the rogue: every honest peer drops it within the liveness timeout, and its calls fail.
    const revokedAt = Date.now();
    await owner.command('revoke', { subject: rogue.key });
    await waitFor(async () => {
      const views = await Promise.all([...honest.map((p) => p.view()), chromium!.view()]);
      return views.every((v) => !v.alive.includes(rogue.id) && !v.linked.includes(rogue.id));
    }, 'the rogue to be cut off', DEFAULT_TIMING.livenessTimeoutMs);
    timings.revocationMs = Date.now() - revokedAt;
    // Its handshakes are refused from now on: nothing it sends is answered.
    for (const p of [node1, op1]) expect(await codeOf(rogue.command('rpc', { to: p.id, method: 'peer.ping', params: { sentAt: 1 }, timeoutMs: 2_000 }))).to.match(/^ERR_/);
  });
});
