/**
 * Supervised Node peers in this process, linked by the real WebRTC transport on
 * loopback through a signaling server the benchmark started: the mesh the orchestration
 * and migration benchmarks measure on. Also the baselines' raw data channel pair.
 */
import '../../node-host/webrtc/globals.ts';
import { nodeDeflate } from '../../node-host/node-deflate.ts';
import { nodeSha256 } from '../../node-host/node-sha256.ts';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import { WebRtcTransport } from '../../shared/adapters/webrtc-transport.ts';
import { createLogger } from '../../shared/log.ts';
import { type SupervisedPeer, startSupervisedPeer } from '../../shared/composition/supervised-peer.ts';
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
      sha256: nodeSha256,
      deflate: nodeDeflate,
    }));
  }
  await waitFor(() => peers.every((p) => p.peer.linked().length >= names.length - 1 && p.peer.registry.devices.size >= names.length), 'a full mesh', 60_000);
  return peers;
}

/** Two raw data channels in one process, no LiquidMesh code: the floor any protocol on top pays. */
export async function rawChannelPair(): Promise<{ a: RTCDataChannel; b: RTCDataChannel; close(): void }> {
  // libdatachannel now and then refuses a description whose candidates raced its ICE
  // transport ("a remote candidate without ICE transport"): a fresh pair connects.
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectPair();
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

async function connectPair(): Promise<{ a: RTCDataChannel; b: RTCDataChannel; close(): void }> {
  const config = { iceServers: [], ...LOOPBACK } as RTCConfiguration;
  const pa = new RTCPeerConnection(config);
  const pb = new RTCPeerConnection(config);
  // A candidate may come before the other side has its remote description: hold it until then.
  const relay = (to: RTCPeerConnection, ready: Promise<unknown>) => (e: RTCPeerConnectionIceEvent): void => {
    if (e.candidate) void ready.then(() => to.addIceCandidate(e.candidate!)).catch(() => undefined);
  };
  let aRemote!: () => void;
  let bRemote!: () => void;
  const aReady = new Promise<void>((resolve) => (aRemote = resolve));
  const bReady0 = new Promise<void>((resolve) => (bRemote = resolve));
  pa.onicecandidate = relay(pb, bReady0);
  pb.onicecandidate = relay(pa, aReady);
  const a = pa.createDataChannel('bench', { ordered: true });
  const bReady = new Promise<RTCDataChannel>((resolve) => (pb.ondatachannel = (e) => resolve(e.channel)));
  let b: RTCDataChannel;
  try {
    await pa.setLocalDescription(await pa.createOffer());
    await pb.setRemoteDescription(pa.localDescription!);
    bRemote();
    await pb.setLocalDescription(await pb.createAnswer());
    await pa.setRemoteDescription(pb.localDescription!);
    aRemote();
    b = await bReady;
    await new Promise<void>((resolve) => (a.readyState === 'open' ? resolve() : (a.onopen = () => resolve())));
  } catch (error) {
    pa.close();
    pb.close();
    throw error;
  }
  a.binaryType = 'arraybuffer';
  b.binaryType = 'arraybuffer';
  return { a, b, close: () => (pa.close(), pb.close()) };
}

/**
 * Send `bytes` from `a` to `b` in 64 KiB messages, keeping at most 1 MiB buffered;
 * resolves once `b` has received them all.
 */
export function sendOverRaw(raw: { a: RTCDataChannel; b: RTCDataChannel }, bytes: Uint8Array): Promise<void> {
  const size = bytes.byteLength;
  const chunk = 64 * 1024;
  return new Promise<void>((resolve) => {
    let received = 0;
    raw.b.onmessage = (e) => {
      received += (e.data as ArrayBuffer).byteLength;
      if (received >= size) resolve();
    };
    let offset = 0;
    const pump = (): void => {
      while (offset < size && raw.a.bufferedAmount < 1024 * 1024) {
        raw.a.send(bytes.slice(offset, offset + chunk).buffer);
        offset += chunk;
      }
    };
    raw.a.bufferedAmountLowThreshold = 256 * 1024;
    raw.a.onbufferedamountlow = pump;
    pump();
  });
}
