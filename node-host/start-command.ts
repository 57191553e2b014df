/**
 * `liquidmesh start` — the main job: a signaling server, the PWA, and two headless peers
 * hosting the sample modules, all on 127.0.0.1 unless told otherwise.
 *
 *   liquidmesh start [--host H] [--signal-port P] [--web-port P] [--mesh M] [--secret S] [--no-chromium]
 *
 * The Node peer has a fake camera (real JPEGs) and simulated sensors; the Chromium peer
 * gets Chromium's fake camera device. Open the printed URL in browsers — on a phone, on
 * the same network with --host — to join the mesh as more devices.
 */
import './webrtc/globals.ts';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { WebRtcTransport } from '../shared/adapters/webrtc-transport.ts';
import { createLogger } from '../shared/log.ts';
import type { ModuleDescription } from '../shared/protocol/description.ts';
import { CHROMIUM_PATH, type ChromiumPeer, launchChromiumPeer } from './headless/chromium.ts';
import { startNodePeer } from './node-peer.ts';
import { startSignalServer } from './signal/signal-server.ts';
import { buildPwa, startWebServer } from './web-server.ts';

const SAMPLES: { name: string; grants: string[] }[] = [
  { name: 'fibo', grants: ['wasi_snapshot_preview1.*'] },
  { name: 'stateful-fibo', grants: [] },
  { name: 'grayscale', grants: [] },
  { name: 'camera', grants: ['camera.takeImageStaticSize', 'wasi_snapshot_preview1.*'] },
];

async function sampleModule(name: string): Promise<{ wasm: Uint8Array; description: ModuleDescription }> {
  const dir = new URL(`../modules/${name}/`, import.meta.url);
  return {
    wasm: new Uint8Array(await readFile(new URL(`${name}.wasm`, dir))),
    description: JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription,
  };
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Run the main job until SIGINT/SIGTERM. */
export async function startCommand(args: string[]): Promise<void> {
  const host = option(args, 'host') ?? '127.0.0.1';
  const mesh = option(args, 'mesh') ?? 'liquidmesh';
  const secret = option(args, 'secret') ?? process.env.LIQUIDMESH_SECRET ?? randomBytes(6).toString('hex');
  const log = createLogger('start');
  const cleanup: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const step of cleanup.reverse()) await step().catch((e: unknown) => log.warn(`while stopping: ${(e as Error).message}`));
  };
  try {
    console.log('LiquidMesh: building the PWA…');
    await buildPwa();
    const signal = await startSignalServer({ host, port: Number(option(args, 'signal-port') ?? 4444) });
    cleanup.push(() => signal.close());
    const web = await startWebServer({ host, port: Number(option(args, 'web-port') ?? 8080) });
    cleanup.push(() => web.close());
    const join = new URL(web.url);
    join.searchParams.set('signal', signal.url);
    join.searchParams.set('mesh', mesh);
    join.searchParams.set('secret', secret);

    const loopback = host.startsWith('127.') || host === 'localhost';
    const node = await startNodePeer({
      name: 'node-1',
      transports: [new WebRtcTransport({ signalUrl: signal.url, mesh, secret, ...(loopback ? { rtcConfig: { bindAddress: '127.0.0.1' } } : {}) })],
      logger: log.child('node-1'),
    });
    cleanup.push(() => node.stop());
    for (const s of SAMPLES) await node.supervisor.deploy({ deploymentId: 'samples', name: s.name, ...(await sampleModule(s.name)), grants: s.grants });

    let chromium: ChromiumPeer | null = null;
    if (!args.includes('--no-chromium') && existsSync(CHROMIUM_PATH)) {
      chromium = await launchChromiumPeer({ pwaUrl: web.url, name: 'chromium-1', params: { signal: signal.url, mesh, secret } });
      const browser = chromium;
      cleanup.push(() => browser.close());
    }

    const fibo = await node.supervisor.call('samples', 'fibo', 'fibo', { args: { param0: '12' } });
    const shot = await node.supervisor.call('samples', 'camera', 'take_image_predefined_path');
    console.log(`
LiquidMesh is running (mesh "${mesh}").
  PWA — open to join as a device:  ${join.toString()}
  signaling:                        ${signal.url}  (y-webrtc ${signal.signalUrl}, PeerJS ${signal.peerjsPath})
  peers:                            node-1 (Node, fake camera, simulated sensors)${chromium ? ', chromium-1 (headless Chromium, fake camera device)' : ''}
  sample modules on node-1:         ${SAMPLES.map((s) => s.name).join(', ')} (deployment "samples")
  fibo(12) = ${fibo.value}; camera wrote ${shot.files[0]?.name} (${shot.files[0]?.bytes.byteLength} bytes of ${shot.files[0]?.mediaType})
Ctrl-C stops everything.`);

    let last = '';
    const report = (): void => {
      const alive = new Set([node.peer.id, ...node.peer.alive()]);
      const line = `devices: ${node.peer.registry.devices.values().map((d) => `${d.name}${alive.has(d.id) ? '' : ' (gone)'}`).join(', ')}`;
      if (line !== last) console.log((last = line));
    };
    // Presence and the registry arrive separately: report when either changes.
    node.peer.on('device-joined', report);
    node.peer.on('device-left', report);
    node.peer.registry.on('change', ({ map }) => map === 'devices' && report());
    report();
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  } finally {
    await stop();
  }
  console.log('stopped');
  process.exit(0);
}
