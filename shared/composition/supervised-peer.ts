/**
 * A peer that hosts modules: the composition of a {@link Peer} with a {@link Supervisor}
 * on a given sandbox and host services. Its device description lists the host imports
 * it can grant (WasmIoT's `supervisorInterfaces`) and which of them are simulated.
 * Environment-specific pieces (sandbox, stores, camera) are passed in by node-host/ and
 * web/.
 * @module
 */
import { fromUtf8 } from '../bytes.ts';
import { InvalidParamsError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { CHAIN_HOP_TIMEOUT_MS } from '../orchestrator/chain.ts';
import type { DeploymentTiming } from '../orchestrator/coordinator.ts';
import { Orchestrator } from '../orchestrator/orchestrator.ts';
import { meshPing, serveNetworkPing } from '../mesh/network-ping.ts';
import { meshPublisher, servePubSub, type TopicBridge } from '../orchestrator/pubsub.ts';
import { scanJson } from '../protocol/json-limits.ts';
import { Peer, type DeviceInit, type PeerOptions } from '../mesh/peer.ts';
import type { HostServices, Sandbox } from '../ports/sandbox.ts';
import { defaultMemoryBudget } from '../sandbox/budget.ts';
import { DeploymentNotFoundError } from '../sandbox/errors.ts';
import type { MeshMethods, ParamsOf } from '../rpc/methods.ts';
import { serveSupervisor } from '../supervisor/serve.ts';
import { type DeployedModule, Supervisor } from '../supervisor/supervisor.ts';
import { DeviceGrants } from '../supervisor/device-grants.ts';
import { type CapabilityPolicy, checkPolicy, defaultCapabilityPolicy, InvalidPolicyError } from '../trust/capability-policy.ts';

/** Options of {@link startSupervisedPeer}. */
export interface SupervisedPeerOptions extends Omit<PeerOptions, 'device'> {
  device: Omit<DeviceInit, 'capabilities' | 'simulated'>;
  sandbox: Sandbox;
  services: HostServices;
  /** Host imports served by a simulation rather than hardware. */
  simulated?: string[];
  /** Time limits of deployment phases this peer coordinates. */
  deploymentTiming?: Partial<DeploymentTiming>;
  /**
   * Bytes all module instances here may hold together (see shared/sandbox/budget.ts).
   * Default: half the memory the device describes; 0: no budget. Published in the
   * device description, so placement keeps deployments off a peer they would overfill.
   */
  memoryBudgetBytes?: number;
  /** Also carry this peer's module pub/sub over a bridge (granted topics only). */
  topicBridge?: TopicBridge;
  /** Place steps only where the zones-and-risk-levels cards allow (see orchestrator/policy.ts). */
  enforcePolicies?: boolean;
  /**
   * What the device's owner offers of its capabilities, and to whom. Default: the
   * harmless imports (WASI, clock, printing, pub/sub, rpc, wasi-nn) to anyone; the camera,
   * sensors and network probing only when the owner offers them.
   */
  policy?: CapabilityPolicy;
}

function bridged(publish: (topic: string, data: Uint8Array) => Promise<void>, bridge: TopicBridge | undefined): (topic: string, data: Uint8Array) => Promise<void> {
  if (!bridge) return publish;
  return async (topic, data) => {
    await publish(topic, data);
    bridge.published(topic, data);
  };
}

/** A running peer with its supervisor. */
export interface SupervisedPeer {
  peer: Peer;
  supervisor: Supervisor;
  /** Packages, deployments and execution; this peer's share of orchestration. */
  orchestrator: Orchestrator;
  /**
   * The owner's capability policy: what this device offers to whom. Setting it publishes
   * it to the mesh and stops what it withdraws at the next host call of a loaded module.
   */
  grants: DeviceGrants;
  /** Stop serving, close every module instance, leave the mesh. */
  stop(): Promise<void>;
}

/**
 * `communication.rpcCall(name, data)` for modules on `peer`: `name` is
 * `deployment/module/function`; the function runs here if this peer hosts it, else on the
 * first linked peer that does. `data` is the function's `bytes` input, or for scalar
 * functions a UTF-8 JSON array or object of its parameters.
 */
function meshRpcCall(getPeer: () => Peer, getSupervisor: () => Supervisor): (name: string, data: Uint8Array) => Promise<void> {
  return async (name, data) => {
    const [deploymentId, module, fn, ...rest] = name.split('/');
    if (!deploymentId || !module || !fn || rest.length > 0) throw new InvalidParamsError(`rpcCall name ${JSON.stringify(name)} is not deployment/module/function`);
    const peer = getPeer();
    const supervisor = getSupervisor();
    const local = supervisor.deployed().find((d) => d.deploymentId === deploymentId && d.name === module);
    const call: ParamsOf<MeshMethods, 'supervisor.call'> = { deploymentId, module, fn, ...inputOf(data) };
    if (local) {
      await supervisor.call(deploymentId, module, fn, { ...inputOf(data), method: 'rpcCall' });
      return;
    }
    for (const other of peer.linked()) {
      // A peer that cannot answer is skipped; another may run the module.
      const deployed = await peer.call(other, 'supervisor.deployed', {}).catch(() => [] as DeployedModule[]);
      if (deployed.some((d) => d.deploymentId === deploymentId && d.name === module)) {
        await peer.call(other, 'supervisor.call', call);
        return;
      }
    }
    throw new DeploymentNotFoundError(`no reachable peer runs ${deploymentId}/${module}`);
  };
}

function inputOf(data: Uint8Array): { args?: unknown[] | Record<string, unknown>; input?: Uint8Array } {
  if (data.byteLength === 0) return { args: [] };
  // Too deep to be arguments: refused here, before it is parsed.
  scanJson(data, {}, 'the rpcCall data');
  try {
    const parsed: unknown = JSON.parse(fromUtf8(data));
    if (Array.isArray(parsed) || (typeof parsed === 'object' && parsed !== null)) return { args: parsed as Record<string, unknown>, input: data };
  } catch {
    // Not JSON: the data is the function's bytes input.
  }
  return { input: data };
}

/** Build and start a peer that hosts modules. */
export async function startSupervisedPeer(options: SupervisedPeerOptions): Promise<SupervisedPeer> {
  let peer: Peer | null = null;
  let supervisor: Supervisor | null = null;
  const services: HostServices = {
    rpcCall: meshRpcCall(() => peer!, () => supervisor!),
    ping: meshPing(() => peer!),
    publish: bridged(meshPublisher(() => peer!, () => supervisor!, createLogger('pubsub')), options.topicBridge),
    subscribe: async (topic) => options.topicBridge?.subscribed(topic),
    ...options.services,
  };
  const platform = options.device.platform;
  const memoryBudgetBytes = options.memoryBudgetBytes ?? defaultMemoryBudget(platform?.memory.bytes ?? 0);
  const policy = options.policy ?? defaultCapabilityPolicy();
  const checked = checkPolicy(policy);
  if (!checked.ok) throw new InvalidPolicyError(`capability policy: ${checked.error}`);
  const grants = new DeviceGrants(policy);
  supervisor = new Supervisor({
    grants,
    sandbox: options.sandbox,
    memoryBudgetBytes,
    kv: options.store.kv,
    services,
    // Calls for a module that migrated away reach its new peer (and answer the caller here).
    forward: (to, call) => {
      const params: ParamsOf<MeshMethods, 'supervisor.call'> = { deploymentId: call.deploymentId, module: call.module, fn: call.fn };
      if (call.input.args !== undefined) params.args = call.input.args;
      if (call.input.files !== undefined) params.files = call.input.files;
      if (call.input.input !== undefined) params.input = call.input.input;
      return peer!.call(to, 'supervisor.call', params, { timeoutMs: CHAIN_HOP_TIMEOUT_MS });
    },
  });
  const capabilities = supervisor.interfaces();
  const simulated = (options.simulated ?? []).filter((name) => capabilities.includes(name));
  const { sandbox: _sandbox, services: _services, simulated: _simulated, deploymentTiming, memoryBudgetBytes: _budget, enforcePolicies, policy: _policy, ...peerOptions } = options;
  const device: DeviceInit = { ...options.device, capabilities, policy, ...(simulated.length > 0 ? { simulated } : {}) };
  if (platform) device.platform = { ...platform, memory: { ...platform.memory, budgetBytes: memoryBudgetBytes } };
  peer = new Peer({ ...peerOptions, device });
  try {
    await peer.start();
  } catch (error) {
    // A transport that cannot connect (refused credentials, no server) must not leave
    // the other transports, the workers or the timers running.
    const failed = peer;
    await failed.stop().catch(() => {});
    await supervisor.stop().catch(() => {});
    await options.sandbox.close().catch(() => {});
    throw error;
  }
  const unserve = serveSupervisor(peer.rpc, supervisor);
  const unservePubSub = servePubSub(peer, supervisor);
  const unservePing = serveNetworkPing(peer.rpc);
  const orchestrator = new Orchestrator({ peer, supervisor, ...(deploymentTiming ? { timing: deploymentTiming } : {}), ...(options.wallClock ? { wallClock: options.wallClock } : {}), ...(enforcePolicies ? { enforcePolicies } : {}) });
  orchestrator.start();
  const offPolicy = grants.onChange((p) => peer!.describePolicy(p));
  const started = { peer, supervisor, orchestrator };
  return {
    ...started,
    grants,
    async stop() {
      offPolicy();
      // Goodbye first, in this task: a page being frozen or closed runs nothing later.
      void started.peer.leave();
      orchestrator.stop();
      unservePubSub();
      unservePing();
      unserve();
      await started.supervisor.stop();
      await options.sandbox.close();
      await started.peer.stop();
    },
  };
}
