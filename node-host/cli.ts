/**
 * The `liquidmesh` command line.
 *
 *   liquidmesh start [--peers N]   run a mesh of N peers in this process and show it live
 *   liquidmesh version
 *   liquidmesh help
 */
import { readFile } from 'node:fs/promises';
import { createLogger, enableDebug } from '../shared/log.ts';
import { MemoryNetwork } from '../shared/memory/memory-network.ts';
import { HOST_VERSION } from '../shared/peer.ts';
import type { ModuleDescription } from '../shared/protocol/description.ts';
import type { SupervisedPeer } from '../shared/supervised-peer.ts';
import { startNodePeer } from './node-peer.ts';
import { SIGNAL_USAGE, signalCommand } from './signal/signal-command.ts';

enableDebug(process.env.DEBUG);
const log = createLogger('cli');

function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
}

/** Publishable sample module: its binary and description from modules/. */
async function sampleModule(name: string): Promise<{ wasm: Uint8Array; description: ModuleDescription }> {
  const dir = new URL(`../modules/${name}/`, import.meta.url);
  return {
    wasm: new Uint8Array(await readFile(new URL(`${name}.wasm`, dir))),
    description: JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription,
  };
}

async function start(args: string[]): Promise<void> {
  const count = Number(option(args, 'peers', '3'));
  if (!Number.isInteger(count) || count < 2 || count > 200) throw new Error('--peers wants an integer from 2 to 200');
  const network = new MemoryNetwork();
  const nodes: SupervisedPeer[] = [];
  for (let i = 0; i < count; i++) {
    nodes.push(await startNodePeer({ name: `node-${i + 1}`, transports: [network.createTransport()], logger: log.child(`peer-${i + 1}`) }));
  }
  const [first, second] = [nodes[0]!, nodes[1]!];
  console.log(`LiquidMesh ${HOST_VERSION}: ${count} peers in one process (in-memory transport). Ctrl-C stops.`);
  first.peer.on('device-joined', (id) => console.log(`+ ${first.peer.registry.devices.get(id)?.name ?? id.slice(0, 12)} joined`));
  first.peer.on('device-left', (id) => console.log(`- ${first.peer.registry.devices.get(id)?.name ?? id.slice(0, 12)} left`));

  // Sample modules on the second peer, called from the first over the mesh.
  await second.supervisor.deploy({ deploymentId: 'demo', name: 'fibo', ...(await sampleModule('fibo')), grants: ['wasi_snapshot_preview1.*'] });
  await second.supervisor.deploy({ deploymentId: 'demo', name: 'camera', ...(await sampleModule('camera')), grants: ['camera.takeImageStaticSize', 'wasi_snapshot_preview1.*'] });
  while (!first.peer.linked().includes(second.peer.id)) await new Promise((r) => setTimeout(r, 10));
  const t = performance.now();
  const fibo = await first.peer.call(second.peer.id, 'supervisor.call', { deploymentId: 'demo', module: 'fibo', fn: 'fibo', args: { param0: '12' } });
  console.log(`fibo(12) = ${fibo.value}, run on node-2 for node-1 in ${(performance.now() - t).toFixed(1)} ms`);
  const shot = await first.peer.call(second.peer.id, 'supervisor.call', { deploymentId: 'demo', module: 'camera', fn: 'take_image_predefined_path' });
  console.log(`camera on node-2 (simulated) wrote ${shot.files[0]?.name}: ${shot.files[0]?.bytes.byteLength} bytes of ${shot.files[0]?.mediaType}`);

  const report = async (): Promise<void> => {
    const rows: string[] = [];
    for (const device of first.peer.registry.devices.values()) {
      const t0 = performance.now();
      const ok = await first.peer.call(device.id, 'peer.ping', { sentAt: Date.now() }).then(() => true, () => false);
      rows.push(`  ${device.name.padEnd(10)} ${device.id.slice(0, 12)}  ${device.engine.padEnd(8)} ${ok ? `ping ${(performance.now() - t0).toFixed(2)} ms` : 'unreachable'}  grants ${device.capabilities.length} imports`);
    }
    console.log(`registry: ${first.peer.registry.devices.size} devices, ${first.peer.alive().length + 1} alive\n${rows.join('\n')}`);
  };
  await report();
  const timer = setInterval(() => void report(), 10_000);

  const stop = async (): Promise<void> => {
    clearInterval(timer);
    await Promise.all(nodes.map((n) => n.stop()));
    console.log('stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

const USAGE = `usage: liquidmesh <command>
  start [--peers N]   run a mesh of N peers in this process and show it live (default 3)
  ${SIGNAL_USAGE}
  peer --name N [--engine node|chromium] [--signal URL] [--mesh M] [--secret S] [--data-dir D] [--pwa URL] [--kiosk] [--json]
                      run one peer of a mesh (a Node process or a headless Chromium)
  version             print the version
  help                this text`;

const [command = 'help', ...rest] = process.argv.slice(2);
try {
  switch (command) {
    case 'start':
      await start(rest);
      break;
    case 'signal':
      await signalCommand(rest);
      break;
    case 'peer': {
      const { peerCommand } = await import('./peer-command.ts');
      await peerCommand(rest);
      break;
    }
    case 'version':
      console.log(HOST_VERSION);
      break;
    case 'help':
    case '--help':
      console.log(USAGE);
      break;
    default:
      console.error(`unknown command: ${command}\n${USAGE}`);
      process.exitCode = 2;
  }
} catch (error) {
  console.error(`liquidmesh ${command}: ${(error as Error).message}`);
  process.exitCode = 1;
}
