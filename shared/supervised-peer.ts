/**
 * A peer that hosts modules: the composition of a {@link Peer} with a {@link Supervisor}
 * on a given sandbox and host services. Its device description lists the host imports
 * it can grant (WasmIoT's `supervisorInterfaces`) and which of them are simulated.
 * Environment-specific pieces (sandbox, stores, camera) are passed in by node-host/ and
 * web/.
 * @module
 */
import { Peer, type DeviceInit, type PeerOptions } from './peer.ts';
import type { HostServices, Sandbox } from './ports/sandbox.ts';
import { serveSupervisor } from './supervisor/serve.ts';
import { Supervisor } from './supervisor/supervisor.ts';

/** Options of {@link startSupervisedPeer}. */
export interface SupervisedPeerOptions extends Omit<PeerOptions, 'device'> {
  device: Omit<DeviceInit, 'capabilities' | 'simulated'>;
  sandbox: Sandbox;
  services: HostServices;
  /** Host imports served by a simulation rather than hardware. */
  simulated?: string[];
}

/** A running peer with its supervisor. */
export interface SupervisedPeer {
  peer: Peer;
  supervisor: Supervisor;
  /** Stop serving, close every module instance, leave the mesh. */
  stop(): Promise<void>;
}

/** Build and start a peer that hosts modules. */
export async function startSupervisedPeer(options: SupervisedPeerOptions): Promise<SupervisedPeer> {
  const supervisor = new Supervisor({ sandbox: options.sandbox, kv: options.store.kv, services: options.services });
  const capabilities = supervisor.interfaces();
  const simulated = (options.simulated ?? []).filter((name) => capabilities.includes(name));
  const { sandbox: _sandbox, services: _services, simulated: _simulated, ...peerOptions } = options;
  const peer = new Peer({ ...peerOptions, device: { ...options.device, capabilities, ...(simulated.length > 0 ? { simulated } : {}) } });
  await peer.start();
  const unserve = serveSupervisor(peer.rpc, supervisor);
  return {
    peer,
    supervisor,
    async stop() {
      unserve();
      await supervisor.stop();
      await options.sandbox.close();
      await peer.stop();
    },
  };
}
