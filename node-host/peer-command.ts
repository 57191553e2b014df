/**
 * `liquidmesh peer`: one peer of a mesh, as a Node process or a headless Chromium.
 *
 *   liquidmesh peer --name N [--engine node|chromium] [--signal URL] [--mesh M] [--secret S]
 *                   [--data-dir D] [--pwa URL] [--kiosk] [--json] [--control stdio]
 *                   [--gateway-port P [--gateway-host H] [--cert F --key F]] [--allow-origin O]… [--allow-host H]…
 *                   [--allow-fetch-from X]… [--gui-dir DIR] [--trust URL | --ca FILE] [--enforce-policies]
 *                   [--nats URL[,URL…] [--nats-user U --nats-pass P | --nats-token T | --nats-creds F] [--mqtt-bridge]
 *                    [--nats-max-links N] [--nats-bus]]   (at most N backbone links: a bounded overlay;
 *                    registry and presence over the backbone's mesh bus; ADR 0023)
 *                   [--max-links N]   (at most N WebRTC connections: a partial mesh, the rest reached through linked peers)
 *
 * With `--json`, events are printed as JSON lines; with `--control stdio` the process also
 * takes commands as JSON lines on stdin (`{"id":1,"cmd":"status"}`), which scripts and the
 * end-to-end tests use to drive a Node peer they can kill by PID; it stops when its stdin
 * closes (its driver is gone). With `--gateway-port`, a
 * Node peer also serves the WasmIoT-compatible HTTP gateway (node-host/gateway/) on that
 * port (0 = any), bound to `--gateway-host` (default 127.0.0.1); beyond loopback it wants
 * the bearer token kept in `<data dir>/gateway-token` (gateway/access-args.ts) and serves
 * HTTPS (node-host/tls/). `--trust URL` (a host's trust page) or `--ca FILE` names the
 * CA of a host that serves HTTPS: a Node peer trusts it for its signaling connections, a
 * Chromium peer imports it into its profile. `--signal`, `--mesh` and `--secret` default
 * to the parameters of a `--pwa` join URL.
 * With `--nats`, the peer also joins the mesh over the NATS backbone (node-host/nats/; a
 * Chromium peer gets the servers, which must then be ws:// or wss:// URLs, as its `nats`
 * query parameter); a Node peer given `--nats` but neither `--signal` nor `--pwa` uses the
 * backbone alone, and with `--mqtt-bridge` carries its modules' pub/sub to and from MQTT
 * devices on the cluster (node-host/nats/mqtt-bridge.ts).
 */
import './webrtc/globals.ts';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { getHeapCodeStatistics, getHeapSpaceStatistics } from 'node:v8';
import { ResilientTransport } from '../shared/adapters/resilient-transport.ts';
import { WebRtcTransport } from '../shared/adapters/webrtc-transport.ts';
import { InvalidParamsError, toErrorInfo } from '../shared/errors.ts';
import { settled } from '../shared/orchestrator/orchestrator.ts';
import type { DeploymentView } from '../shared/registry/registry.ts';
import { createLogger } from '../shared/log.ts';
import type { SupervisedPeer } from '../shared/composition/supervised-peer.ts';
import type { PeerRoles } from '../shared/registry/join-roles.ts';
import { rolesFromInvitation } from './keys/invite.ts';
import { encodeInvitationToken } from '../shared/trust/statements.ts';
import { defaultDataDir, ensurePrivateDir } from './data-dir.ts';
import { isLoopbackHost } from './host-address.ts';
import { readModuleFiles, sampleModuleDir } from './module-files.ts';
import { isNatsConfigError, natsBusFromArgs, natsOptionsFromArgs, natsQuery, natsTopicBridgeFromArgs, natsTransportFromArgs } from './nats/nats-connect.ts';
import { startNodePeer } from './node-peer.ts';
import { ownsPolicy, policyFromArgs } from './capability-flags.ts';
import { loadTrustedCa, trustCertificates } from './tls/node-trust.ts';

/** Parsed options of the peer command. */
export interface PeerArgs {
  name: string;
  engine: 'node' | 'chromium';
  signal: string;
  mesh: string;
  secret: string;
  dataDir?: string;
  pwa: string;
  kiosk: boolean;
  json: boolean;
  control: boolean;
  /** Serve the HTTP gateway on this port (Node peers only). */
  gatewayPort?: number;
  gatewayHost?: string;
  /** A host's trust page, whose CA this peer trusts. */
  trust?: string;
  /** A CA certificate file this peer trusts. */
  ca?: string;
  /** The gateway's own certificate and key (PEM files) instead of the local CA's. */
  cert?: string;
  key?: string;
  /** Most WebRTC connections this peer holds (a partial mesh; others are reached through linked peers). */
  maxLinks?: number;
  /** Roles (ADR 0025): the invitation this peer redeems, with the mesh's owner keys. */
  roles?: PeerRoles;
}

/** Parse the command line; throws with a message naming the bad option. */
export function parsePeerArgs(args: string[]): PeerArgs {
  const value = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const name = value('name');
  if (!name) throw new Error('--name is required');
  const engine = value('engine') ?? 'node';
  if (engine !== 'node' && engine !== 'chromium') throw new Error('--engine must be node or chromium');
  const pwa = value('pwa') ?? 'http://127.0.0.1:5173/';
  // A join URL given as --pwa carries the mesh's parameters.
  const fromPwa = URL.canParse(pwa) ? new URL(pwa).searchParams : new URLSearchParams();
  const parsed: PeerArgs = {
    name,
    engine,
    signal: value('signal') ?? fromPwa.get('signal') ?? 'http://127.0.0.1:4444',
    mesh: value('mesh') ?? fromPwa.get('mesh') ?? 'liquidmesh',
    secret: value('secret') ?? process.env.LIQUIDMESH_SECRET ?? fromPwa.get('secret') ?? '',
    pwa,
    kiosk: args.includes('--kiosk'),
    json: args.includes('--json'),
    control: value('control') === 'stdio',
  };
  const dataDir = value('data-dir');
  if (dataDir) parsed.dataDir = dataDir;
  const gatewayPort = value('gateway-port');
  if (gatewayPort !== undefined) {
    const port = Number(gatewayPort);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--gateway-port must be a port number (0 = any)');
    if (engine !== 'node') throw new Error('--gateway-port needs --engine node');
    parsed.gatewayPort = port;
  }
  const gatewayHost = value('gateway-host');
  if (gatewayHost) parsed.gatewayHost = gatewayHost;
  for (const key of ['trust', 'ca', 'cert', 'key'] as const) {
    const given = value(key);
    if (given !== undefined) parsed[key] = given;
  }
  if (parsed.trust !== undefined && parsed.ca !== undefined) throw new Error('--trust and --ca: give one');
  const maxLinks = value('max-links');
  if (maxLinks !== undefined) {
    const n = Number(maxLinks);
    if (!Number.isInteger(n) || n < 1) throw new Error('--max-links must be a whole number of at least 1');
    parsed.maxLinks = n;
  }
  // A join link given as --pwa carries the invitation of the devices it makes.
  const invitation = value('invitation') ?? process.env.LIQUIDMESH_INVITATION ?? fromPwa.get('invite') ?? undefined;
  if (invitation !== undefined) parsed.roles = rolesFromInvitation(invitation, args);
  return parsed;
}

/** Run the peer until SIGINT/SIGTERM (or a `stop` command). */
export async function peerCommand(argv: string[]): Promise<void> {
  const args = parsePeerArgs(argv);
  // The peer's identity and data (or its browser profile) live here: private to this user.
  if (args.dataDir) args.dataDir = await ensurePrivateDir(args.dataDir);
  const natsOptions = natsOptionsFromArgs(argv);
  const print = (line: Record<string, unknown>): void => {
    if (args.json) process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  const say = (text: string): void => {
    if (!args.json) console.log(text);
  };
  let stop: () => Promise<void>;
  const trusted = args.trust !== undefined || args.ca !== undefined ? await loadTrustedCa({ ...(args.trust !== undefined ? { url: args.trust } : {}), ...(args.ca !== undefined ? { file: args.ca } : {}) }) : null;
  if (trusted) {
    say(`trusting the CA with SHA-256 fingerprint ${trusted.fingerprint}`);
    print({ event: 'trust', fingerprint: trusted.fingerprint });
  }

  if (args.engine === 'chromium') {
    // Loaded here, as the gateway below: a Node peer at rest holds neither (puppeteer, busboy, X.509).
    const { launchChromiumPeer } = await import('./headless/chromium.ts');
    const { watchPageStatus } = await import('./headless/page-status.ts');
    const peer = await launchChromiumPeer({
      pwaUrl: args.pwa,
      name: args.name,
      params: { signal: args.signal, mesh: args.mesh, ...(args.secret ? { secret: args.secret } : {}), ...(natsOptions ? natsQuery(natsOptions, natsBusFromArgs(argv)) : {}) },
      ...(args.dataDir ? { profileDir: args.dataDir } : {}),
      kiosk: args.kiosk,
      ...(trusted ? { trustCa: trusted.pem } : {}),
      ...(ownsPolicy(argv) ? { policy: await policyFromArgs(argv) } : {}),
      ...(args.roles ? { roles: { mesh: args.roles.mesh, owners: args.roles.owners, ...(args.roles.invitation ? { invitation: encodeInvitationToken(args.roles.invitation) } : {}) } } : {}),
    });
    say(`chromium peer ${args.name} running (browser pid ${peer.pid}) on ${args.pwa}`);
    print({ event: 'ready', engine: 'chromium', name: args.name, pid: peer.pid });
    const unwatch = watchPageStatus(peer.page, (status) => {
      say(`page: ${status.view} view "${status.heading}" (device ${status.id || 'not started'}), ${status.alive} peer(s) alive${status.secure ? '' : ', NOT a secure context'}${status.error ? `, failed: ${status.error}` : ''}`);
      print({ event: 'page', ...status });
    });
    stop = () => {
      unwatch();
      return peer.close();
    };
  } else {
    if (trusted) trustCertificates([trusted.pem]);
    const signalHost = new URL(args.signal).hostname;
    const backbone = natsTransportFromArgs(argv, { mesh: args.mesh, secret: args.secret, name: args.name });
    const backboneOnly = backbone !== null && !argv.includes('--signal') && !argv.includes('--pwa');
    const topicBridge = natsTopicBridgeFromArgs(argv, args.name);
    const resilientBackbone = backbone ? new ResilientTransport(backbone, { fatal: isNatsConfigError }) : null;
    const bus = resilientBackbone && natsBusFromArgs(argv) ? resilientBackbone.bus : undefined;
    const node = await startNodePeer({
      name: args.name,
      // Both links retry in the background: a peer restarted while its site is down starts
      // from its data directory and joins once a server answers (refused credentials still stop it).
      transports: [
        // With --nats and no signaling server named, a peer off-site uses the backbone only.
        ...(backboneOnly ? [] : [new ResilientTransport(new WebRtcTransport({
          signalUrl: args.signal,
          mesh: args.mesh,
          secret: args.secret,
          ...(args.maxLinks !== undefined ? { maxConnections: args.maxLinks } : {}),
          // On a loopback-only setup keep WebRTC on loopback too; otherwise use every interface.
          ...(isLoopbackHost(signalHost) ? { rtcConfig: { bindAddress: '127.0.0.1' } } : {}),
        }))]),
        ...(resilientBackbone ? [resilientBackbone] : []),
      ],
      ...(bus ? { bus } : {}),
      ...(args.dataDir ? { dataDir: args.dataDir } : {}),
      ...(argv.includes('--enforce-policies') ? { enforcePolicies: true } : {}),
      policy: await policyFromArgs(argv),
      logger: createLogger(`peer:${args.name}`),
      ...(topicBridge ? { topicBridge } : {}),
      ...(args.roles ? { roles: args.roles } : {}),
    });
    await topicBridge?.start(node).catch(async (error: unknown) => {
      await node.stop();
      throw error;
    });
    // The gateway is up before `ready` is announced; a port already taken stops the peer again.
    const gatewayHost = args.gatewayHost ?? '127.0.0.1';
    const gateway = args.gatewayPort === undefined
      ? null
      : await (async () => {
          const dataDir = args.dataDir ?? defaultDataDir();
          const { resolveServerTls, keepTlsFresh } = await import('./tls/server-tls.ts');
          const { gatewayToken, parseAccessArgs } = await import('./gateway/access-args.ts');
          const { startGateway } = await import('./gateway/gateway.ts');
          const tls = await resolveServerTls({ host: gatewayHost, dataDir, cert: args.cert, key: args.key });
          const started = await startGateway({
            peer: node, port: args.gatewayPort!, host: gatewayHost, ...(tls ? { tls: tls.material } : {}),
            ...(await parseAccessArgs(argv)), ...(await gatewayToken(gatewayHost, args.dataDir, (text) => (args.json ? print({ event: 'gateway-token', text }) : say(text)))),
          });
          if (tls?.local) keepTlsFresh({ host: gatewayHost, dataDir, apply: (renewed) => started.setTls(renewed) });
          return started;
        })().catch(async (error: unknown) => {
          await node.stop();
          throw error;
        });
    const { peer } = node;
    const nameOf = (id: string): string => peer.registry.devices.get(id)?.name ?? id.slice(0, 12);
    peer.on('device-joined', (id) => {
      say(`+ ${nameOf(id)} joined`);
      print({ event: 'device-joined', peer: id, name: nameOf(id) });
    });
    peer.on('device-left', (id) => {
      say(`- ${nameOf(id)} left`);
      print({ event: 'device-left', peer: id, name: nameOf(id) });
    });
    say(`node peer ${args.name} (${peer.id}) in mesh ${args.mesh} via ${backboneOnly ? 'the NATS backbone' : args.signal}`);
    print({ event: 'ready', engine: 'node', name: args.name, id: peer.id, pid: process.pid });
    if (args.control) serveControl(node, print, () => void shutdown());
    if (gateway) {
      say(`HTTP gateway (WasmIoT API) on ${gateway.url}`);
      print({ event: 'gateway', url: gateway.url });
    }
    stop = async () => {
      await gateway?.close();
      await topicBridge?.stop();
      await node.stop();
    };
  }

  let stopping = false;
  const shutdown = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await stop();
    print({ event: 'stopped' });
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}

/** Commands on stdin, answers on stdout, one JSON object per line. */
function serveControl(node: SupervisedPeer, print: (line: Record<string, unknown>) => void, stop: () => void): void {
  const { peer } = node;
  const commands: Record<string, (a: Record<string, unknown>) => Promise<unknown>> = {
    status: async () => ({
      id: peer.id,
      devices: peer.registry.devices.values().map((d) => ({ id: d.id, name: d.name, engine: d.engine })),
      alive: peer.alive(),
      linked: peer.linked(),
      deployments: peer.registry.deployments.keys(),
    }),
    ping: async (a) => {
      const t = performance.now();
      await peer.call(String(a.to), 'peer.ping', { sentAt: Date.now() });
      return { ms: performance.now() - t };
    },
    /** Where this process's memory goes: `process.memoryUsage()` and V8's heap spaces, in bytes. */
    memory: async () => ({ ...process.memoryUsage(), spaces: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size])), code: getHeapCodeStatistics() }),
    put: async (a) => ({ hash: await peer.store.blobs.put(new Uint8Array(randomBytes(Number(a.size)))) }),
    fetch: async (a) => ({ size: (await peer.fetchBlob(String(a.hash))).byteLength }),
    write: async (a) => {
      peer.registry.deployments.put({
        id: String(a.deployment), name: String(a.deployment), manifest: {}, solution: {}, revision: 1,
        coordinator: peer.id, status: 'pending', createdAt: Date.now(), updatedAt: Date.now(),
      });
      return {};
    },
    ...orchestrationCommands(node),
    stop: async () => {
      setTimeout(stop, 0);
      return {};
    },
  };
  createInterface({ input: process.stdin }).on('line', (line) => {
    let request: Record<string, unknown>;
    try {
      request = JSON.parse(line) as Record<string, unknown>;
    } catch {
      print({ ok: false, error: { code: 'ERR_INVALID_PARAMS', message: 'not a JSON line' } });
      return;
    }
    const run = commands[String(request.cmd)];
    if (!run) {
      print({ id: request.id, ok: false, error: { code: 'ERR_METHOD_NOT_FOUND', message: `no command ${String(request.cmd)}` } });
      return;
    }
    run(request).then(
      (result) => print({ id: request.id, ok: true, result }),
      (error: unknown) => print({ id: request.id, ok: false, error: toErrorInfo(error) }),
    );
  }).on('close', () => {
    // Whoever drove this peer is gone (its end of the pipe closed): nobody is left to stop it.
    stop();
  });
}

/** Control commands that publish, deploy and execute through this peer's orchestrator. */
function orchestrationCommands(node: SupervisedPeer): Record<string, (a: Record<string, unknown>) => Promise<unknown>> {
  const { orchestrator } = node;
  const summary = (view: DeploymentView): Record<string, unknown> => ({ ...view.record, phases: view.phases });
  const settledOr = (a: Record<string, unknown>) => (view: DeploymentView): boolean =>
    view.record.revision > Number(a.revisionAbove ?? 0) && (a.status === undefined ? settled(view) : view.record.status === a.status);
  return {
    /** `{module: "fibo"}`: publish modules/<module>/ (its description.json, .wasm and data files). */
    publish: async (a) => {
      const files = await readModuleFiles(sampleModuleDir(String(a.module)));
      if (!files.description) throw new InvalidParamsError(`modules/${String(a.module)} has no description.json`);
      const dataFiles = Object.fromEntries(Object.entries(files.data).map(([mount, f]) => [mount, f.bytes]));
      const record = await orchestrator.packages.publish({ wasm: files.wasm, description: files.description, dataFiles });
      // Answered once stored: a crash right after the answer keeps it.
      await node.peer.registrySaved();
      return { id: record.id, name: record.name, version: record.version };
    },
    deploy: async (a) => {
      const record = orchestrator.deploy(a.manifest);
      await node.peer.registrySaved();
      return record;
    },
    /** The published modules this peer's registry holds. */
    modules: async () => orchestrator.packages.list().map((m) => ({ id: m.id, name: m.name, version: m.version })),
    /** The deployment ids whose modules this peer's own supervisor runs. */
    hosted: async () => [...new Set(node.supervisor.deployed().map((d) => d.deploymentId))],
    /** `{deployment?, limit?}`: this peer's request history, newest first. */
    history: async (a) => node.supervisor.history.query({ ...(a.deployment ? { deploymentId: String(a.deployment) } : {}), limit: Number(a.limit ?? 100) }),
    deployment: async (a) => summary(orchestrator.get(String(a.deployment))),
    wait: async (a) => summary(await orchestrator.waitFor(String(a.deployment), settledOr(a), Number(a.timeoutMs ?? 30_000))),
    execute: async (a) => {
      const out = await orchestrator.execute(String(a.deployment), { args: (a.args ?? []) as unknown[] });
      return { value: out.result.value, files: out.result.files.map((f) => ({ name: f.name, mediaType: f.mediaType, size: f.bytes.byteLength })), steps: out.steps.map((s) => ({ step: s.step, peer: s.peer, module: s.module, value: s.value, durationMs: s.durationMs })) };
    },
    /** `{deployment, module, device, mode?}`: live-migrate (or clone) a module with its state. */
    migrate: async (a) => orchestrator.migrate(String(a.deployment), String(a.module), String(a.device), { mode: a.mode === 'clone' ? 'clone' : 'move' }),
    call: async (a) => (await orchestrator.call(String(a.deployment), String(a.module), String(a.func), { args: (a.args ?? []) as unknown[] })).value,
  };
}
