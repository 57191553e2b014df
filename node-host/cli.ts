/**
 * The `liquidmesh` command line.
 *
 *   liquidmesh start [--peers N]   run a mesh of N peers in this process and show it live
 *   liquidmesh version
 *   liquidmesh help
 */
import { cpus, totalmem } from 'node:os';
import { createLogger, enableDebug } from '../shared/log.ts';
import { MemoryBlobStore } from '../shared/memory/memory-blob-store.ts';
import { MemoryKeyValueStore } from '../shared/memory/memory-key-value-store.ts';
import { MemoryNetwork } from '../shared/memory/memory-network.ts';
import { HOST_VERSION, Peer } from '../shared/peer.ts';
import type { DeviceDescription } from '../shared/registry/schema.ts';

enableDebug(process.env.DEBUG);
const log = createLogger('cli');

/** What this machine is, for device descriptions. */
export function nodePlatform(): DeviceDescription['platform'] {
  const cpu = cpus();
  return {
    cpu: { humanReadableName: cpu[0]?.model.trim() ?? 'unknown', cores: cpu.length, clockSpeedHz: (cpu[0]?.speed ?? 0) * 1e6 },
    memory: { bytes: totalmem() },
  };
}

function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
}

async function start(args: string[]): Promise<void> {
  const count = Number(option(args, 'peers', '3'));
  if (!Number.isInteger(count) || count < 2 || count > 200) throw new Error('--peers wants an integer from 2 to 200');
  const network = new MemoryNetwork();
  const peers: Peer[] = [];
  for (let i = 0; i < count; i++) {
    const peer = new Peer({
      transports: [network.createTransport()],
      store: { blobs: new MemoryBlobStore(), kv: new MemoryKeyValueStore() },
      device: { name: `node-${i + 1}`, engine: 'node', platform: nodePlatform(), capabilities: ['sys.millis', 'sys.print'] },
      logger: log.child(`peer-${i + 1}`),
    });
    await peer.start();
    peers.push(peer);
  }
  console.log(`LiquidMesh ${HOST_VERSION}: ${count} peers in one process (in-memory transport). Ctrl-C stops.`);
  peers[0]!.on('device-joined', (id) => console.log(`+ ${peers[0]!.registry.devices.get(id)?.name ?? id.slice(0, 12)} joined`));
  peers[0]!.on('device-left', (id) => console.log(`- ${peers[0]!.registry.devices.get(id)?.name ?? id.slice(0, 12)} left`));

  const report = async (): Promise<void> => {
    const [first] = peers;
    const rows: string[] = [];
    for (const device of first!.registry.devices.values()) {
      const t = performance.now();
      const ok = await first!.call(device.id, 'peer.ping', { sentAt: Date.now() }).then(() => true, () => false);
      rows.push(`  ${device.name.padEnd(10)} ${device.id.slice(0, 12)}  ${device.engine.padEnd(8)} ${ok ? `ping ${(performance.now() - t).toFixed(2)} ms` : 'unreachable'}`);
    }
    console.log(`registry: ${first!.registry.devices.size} devices, ${first!.alive().length + 1} alive\n${rows.join('\n')}`);
  };
  await new Promise((r) => setTimeout(r, 100));
  await report();
  const timer = setInterval(() => void report(), 10_000);

  const stop = async (): Promise<void> => {
    clearInterval(timer);
    await Promise.all(peers.map((p) => p.stop()));
    console.log('stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

const USAGE = `usage: liquidmesh <command>
  start [--peers N]   run a mesh of N peers in this process and show it live (default 3)
  version             print the version
  help                this text`;

const [command = 'help', ...rest] = process.argv.slice(2);
try {
  switch (command) {
    case 'start':
      await start(rest);
      break;
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
