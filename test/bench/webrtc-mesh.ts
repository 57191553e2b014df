/**
 * Supervised Node peers in this process, linked by the real WebRTC transport on
 * loopback through a signaling server the benchmark started: the mesh the orchestration
 * and migration benchmarks measure on.
 */
import '../../node-host/webrtc/globals.ts';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import { WebRtcTransport } from '../../shared/adapters/webrtc-transport.ts';
import { createLogger } from '../../shared/log.ts';
import { type SupervisedPeer, startSupervisedPeer } from '../../shared/supervised-peer.ts';
import { waitFor } from '../acceptance/wait.ts';
import { collectLogs, memoryStore } from '../helpers/mesh.ts';

const LOOPBACK = { bindAddress: '127.0.0.1' };

/** Start one peer per name in `mesh` and wait until every pair is linked and registered. */
export async function meshOf(signalUrl: string, names: string[], mesh: string): Promise<SupervisedPeer[]> {
  const log = collectLogs();
  const peers: SupervisedPeer[] = [];
  for (const name of names) {
    peers.push(await startSupervisedPeer({
      transports: [new WebRtcTransport({ signalUrl, mesh, secret: 'bench', announceMs: 500, rtcConfig: LOOPBACK })],
      store: memoryStore(),
      device: { name, engine: 'node', platform: { cpu: { humanReadableName: 'bench', cores: 2 }, memory: { bytes: 2 ** 30 } } },
      sandbox: createNodeSandbox(),
      services: {},
      logger: createLogger(`bench:${name}`, log.sink),
      persistRegistry: false,
    }));
  }
  await waitFor(() => peers.every((p) => p.peer.linked().length >= names.length - 1 && p.peer.registry.devices.size >= names.length), 'a full mesh', 60_000);
  return peers;
}
