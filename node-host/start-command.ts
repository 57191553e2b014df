/**
 * `liquidmesh start` — the main job: a signaling server, the PWA, and two headless peers
 * hosting the sample modules, all on 127.0.0.1 unless told otherwise.
 *
 *   liquidmesh start [--host H] [--signal-port P] [--web-port P] [--gateway-port P] [--trust-port P] [--mesh M] [--secret S] [--no-chromium]
 *                    [--data-dir DIR | --ephemeral] [--cert F --key F] [--allow-origin O]… [--allow-host H]… [--allow-fetch-from X]… [--gui-dir DIR]
 *                    [--enforce-policies]
 *                    [--nats URL[,URL…] [--nats-user U --nats-pass P | --nats-token T | --nats-creds F] [--nats-bus]]
 *
 * The Node peer has a fake camera (real JPEGs) and simulated sensors, and serves the
 * WasmIoT-compatible HTTP gateway; the Chromium peer gets Chromium's fake camera device.
 * The sample modules are published through the package manager and deployed by the
 * orchestrator (node-host/samples.ts). Open the printed URL in browsers — on a phone, on
 * the same network with --host — to join the mesh as more devices; scan the QR code.
 * Beyond loopback the gateway wants the bearer token kept in `<data dir>/gateway-token`
 * (gateway/access-args.ts).
 * Off loopback every server speaks HTTPS with a certificate from the host's local CA
 * (node-host/tls/), or the user's own with --cert/--key, and a plain-HTTP trust page on
 * --trust-port (8081) hands out the CA: its QR code comes first in the banner.
 *
 * Roles are on (node-host/start-roles.ts, ADR 0025): node-1 holds the owner key, chromium-1
 * and every device that opens the join link or scans its QR code join as `device` with an
 * invitation, and the owner's page (its single-use link is printed too) can invite
 * other roles and revoke members.
 * Everything the user creates survives a restart: both peers, the owner key, and the mesh's name and
 * secret, live in a data directory (node-host/start-data.ts); `--ephemeral` keeps nothing
 * of its own (off loopback, the CA and the gateway token still live in the default one).
 */
import './webrtc/globals.ts';
import { existsSync } from 'node:fs';
import { renderUnicodeCompact } from 'uqr';
import { WebRtcTransport } from '../shared/adapters/webrtc-transport.ts';
import { createLogger } from '../shared/log.ts';
import { gatewayToken, parseAccessArgs } from './gateway/access-args.ts';
import { defaultDataDir } from './data-dir.ts';
import { startGateway } from './gateway/gateway.ts';
import { CHROMIUM_PATH, type ChromiumPeer, launchChromiumPeer } from './headless/chromium.ts';
import { natsBusFromArgs, natsTransportFromArgs } from './nats/nats-connect.ts';
import { startNodePeer } from './node-peer.ts';
import { DEMO_OFFERS, policyFromArgs } from './capability-flags.ts';
import { SAMPLE_DEPLOYMENTS, deploySamples, publishSamples } from './samples.ts';
import { startSignalServer } from './signal/signal-server.ts';
import { meshSettings, peerDataDir, startDataDir } from './start-data.ts';
import { launchInvitation, startRoles } from './start-roles.ts';
import { serveOwnerRequests } from '../shared/mesh/owner-service.ts';
import { trustCertificates } from './tls/node-trust.ts';
import { advertisedUrl } from './host-address.ts';
import { keepTlsFresh, resolveServerTls } from './tls/server-tls.ts';
import { DEFAULT_TRUST_PORT, startTrustServer, type TrustServer } from './tls/trust-server.ts';
import { buildPwa, startWebServer } from './web-server.ts';

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Wait until `predicate` holds, checking every 100 ms; false when the time is up. */
async function eventually(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Run the main job until SIGINT/SIGTERM. */
export async function startCommand(args: string[]): Promise<void> {
  const host = option(args, 'host') ?? '127.0.0.1';
  /** Where this run keeps what must survive a restart; null with --ephemeral (nothing of its own written). */
  const dataDir: string | null = startDataDir(args);
  const secretGiven = option(args, 'secret') ?? process.env.LIQUIDMESH_SECRET;
  const meshGiven = option(args, 'mesh');
  const { mesh, secret } = await meshSettings(dataDir, { ...(meshGiven ? { mesh: meshGiven } : {}), ...(secretGiven ? { secret: secretGiven } : {}) });
  const log = createLogger('start');
  const cleanup: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const step of cleanup.reverse()) await step().catch((e: unknown) => log.warn(`while stopping: ${(e as Error).message}`));
  };
  try {
    const access = await parseAccessArgs(args);
    const tlsDataDir = dataDir ?? defaultDataDir();
    const serverTls = await resolveServerTls({ host, dataDir: tlsDataDir, cert: option(args, 'cert'), key: option(args, 'key') });
    const tls = serverTls ? { tls: serverTls.material } : {};
    const ca = serverTls?.local ?? null;
    // node-1 and chromium-1 connect to these servers like any other peer: they trust the CA too.
    if (ca) trustCertificates([ca.caCert]);
    console.log('LiquidMesh: building the PWA…');
    await buildPwa();
    const signal = await startSignalServer({ host, port: Number(option(args, 'signal-port') ?? 4444), ...tls });
    cleanup.push(() => signal.close());
    const web = await startWebServer({ host, port: Number(option(args, 'web-port') ?? 8080), ...tls });
    cleanup.push(() => web.close());
    // Links and QR codes name an address other devices can reach, even for a --host 0.0.0.0 bind.
    const join = new URL(advertisedUrl(web.url));
    join.searchParams.set('signal', advertisedUrl(signal.url));
    join.searchParams.set('mesh', mesh);
    join.searchParams.set('secret', secret);
    const roles = await startRoles(dataDir, mesh);
    // The printed link and its QR code make devices, for a day; the owner's page is single use.
    const ownerPage = new URL(join);
    ownerPage.searchParams.set('invite', roles.invite('owner'));
    join.searchParams.set('invite', roles.invite('device', { reusable: true }));
    let trust: TrustServer | null = null;
    if (ca) {
      trust = await startTrustServer({ caCert: ca.caCert, host, port: Number(option(args, 'trust-port') ?? DEFAULT_TRUST_PORT), joinUrl: (url) => withTrust(join, url) });
      join.searchParams.set('trust', advertisedUrl(trust.url));
      const server = trust;
      cleanup.push(() => server.close());
    }

    const backbone = natsTransportFromArgs(args, { mesh, secret, name: 'node-1' });
    const loopback = host.startsWith('127.') || host === 'localhost';
    const node = await startNodePeer({
      name: 'node-1',
      transports: [
        new WebRtcTransport({ signalUrl: signal.url, mesh, secret, ...(loopback ? { rtcConfig: { bindAddress: '127.0.0.1' } } : {}) }),
        ...(backbone ? [backbone] : []),
      ],
      ...(dataDir ? { dataDir: await peerDataDir(dataDir, 'peers', 'node-1') } : {}),
      ...(args.includes('--enforce-policies') ? { enforcePolicies: true } : {}),
      // The demo's camera-gray deployment takes pictures with node-1's fake camera.
      policy: await policyFromArgs(args, DEMO_OFFERS),
      logger: log.child('node-1'),
      identity: roles.owner,
      roles: roles.node,
      ...(backbone && natsBusFromArgs(args) ? { bus: backbone.bus } : {}),
    });
    cleanup.push(() => node.stop());
    serveOwnerRequests(node.peer);
    const gateway = await startGateway({
      peer: node, host, port: Number(option(args, 'gateway-port') ?? 3000), ...tls,
      ...access, ...(await gatewayToken(host, dataDir, (text) => console.log(`LiquidMesh: ${text}`))),
    });
    cleanup.push(() => gateway.close());
    if (ca) {
      const stopRenewal = keepTlsFresh({
        host, dataDir: tlsDataDir,
        apply: (renewed) => {
          for (const server of [signal, web, gateway]) server.setTls(renewed);
          console.log(`LiquidMesh: renewed the server certificate, valid until ${renewed.notAfter.toISOString().slice(0, 10)}`);
        },
        onError: (error) => log.warn(`certificate renewal failed: ${(error as Error).message}`),
      });
      cleanup.push(async () => stopRenewal());
    }

    let chromium: ChromiumPeer | null = null;
    if (!args.includes('--no-chromium') && existsSync(CHROMIUM_PATH)) {
      chromium = await launchChromiumPeer({
        pwaUrl: advertisedUrl(web.url),
        name: 'chromium-1',
        params: { signal: advertisedUrl(signal.url), mesh, secret },
        ...(dataDir ? { profileDir: await peerDataDir(dataDir, 'chromium', 'chromium-1') } : {}),
        ...(ca ? { trustCa: ca.caCert } : {}),
        // Who runs `start` owns its peers: chromium-1 offers what node-1 offers.
        policy: await policyFromArgs(args, DEMO_OFFERS),
        roles: { mesh, owners: roles.owners, invitation: launchInvitation(roles) },
      });
      const browser = chromium;
      cleanup.push(() => browser.close());
      // Deploy once both peers are in the mesh, so that placement can spread the samples.
      const seen = await eventually(() => node.peer.registry.devices.values().some((d) => d.name === 'chromium-1' && node.peer.alive().includes(d.id)), 30_000);
      if (!seen) log.warn('chromium-1 has not joined yet; deploying the samples on node-1');
    }

    console.log('LiquidMesh: publishing and deploying the sample modules…');
    const published = await publishSamples(node.orchestrator);
    await deploySamples(node.orchestrator);
    const deviceName = (id: string): string => node.peer.registry.devices.get(id)?.name ?? id.slice(0, 8);
    // After a restart the samples are the user's: changed, moved or removed. Show what runs.
    const tryRun = (what: string, run: () => Promise<string>): Promise<string> => run().catch((e: unknown) => `${what}: not run (${(e as Error).message})`);
    const fiboLine = await tryRun('fibo', async () => {
      const fibo = await node.orchestrator.execute('fibo', { args: [12] });
      return `fibo(12) = ${String(fibo.result.value)} on ${deviceName(fibo.steps[0]!.peer)}`;
    });
    const chainLine = await tryRun('camera-gray', async () => {
      const chain = await node.orchestrator.execute('camera-gray');
      const shot = chain.steps[0]?.files?.[0];
      const gray = chain.result.files[0];
      return `camera wrote ${shot?.name ?? '?'} (${shot?.bytes.byteLength ?? 0} bytes of ${shot?.mediaType ?? '?'}) on ${deviceName(chain.steps[0]!.peer)}; grayscale made ${gray?.name ?? '?'} (${gray?.bytes.byteLength ?? 0} bytes) on ${deviceName(chain.steps[chain.steps.length - 1]!.peer)}`;
    });
    console.log(`
LiquidMesh is running (mesh "${mesh}").
  PWA — open to join as a device:  ${join.toString()}
  owner's page — this machine, once: ${ownerPage.toString()}
  HTTP gateway (WasmIoT API):       ${advertisedUrl(gateway.url)}   e.g. liquidmesh ls devices, curl ${advertisedUrl(gateway.url)}/file/device
  signaling:                        ${advertisedUrl(signal.url)}  (y-webrtc ${signal.signalUrl}, PeerJS ${signal.peerjsPath})
  peers:                            node-1 (Node, fake camera, simulated sensors)${chromium ? ', chromium-1 (headless Chromium, fake camera device)' : ''}
  sample modules:                   ${published.map((m) => `${m.name}@${m.version}`).join(', ')}
  sample deployments:               ${Object.keys(SAMPLE_DEPLOYMENTS).join(', ')}
  owner key:                        ${roles.owners[0]}${dataDir ? ` (${dataDir}/keys/owner.key)` : ' (in memory)'}
  data:                             ${dataDir ?? 'none kept (--ephemeral)'}
  ${fiboLine}
  ${chainLine}
${tlsBanner(serverTls?.local ?? null, trust, Boolean(serverTls))}
Scan to join from a phone on the same network${trust ? ' (after trusting the CA)' : serverTls ? '' : ' (start with --host <this machine\'s address>)'}:
${renderUnicodeCompact(join.toString(), { border: 1 })}
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

/** `join` with its `trust` parameter set to the trust page's URL. */
function withTrust(join: URL, trustUrl: string): string {
  const url = new URL(join);
  url.searchParams.set('trust', trustUrl);
  return url.toString();
}

/** The banner's TLS part: the trust page and its QR code come before the join QR code. */
function tlsBanner(ca: { caFingerprint: string; caPath: string; notAfter: Date } | null, trust: TrustServer | null, tls: boolean): string {
  if (!tls) return '';
  if (!ca || !trust) return '\n  TLS: the certificate given with --cert/--key\n';
  return `
  TLS: certificate from this host's local CA, valid until ${ca.notAfter.toISOString().slice(0, 10)}
  CA certificate:                   ${ca.caPath}
  CA SHA-256 fingerprint:           ${ca.caFingerprint}
  trust page — install the CA:      ${advertisedUrl(trust.url)}

First, once per device: scan to open the trust page and install this host's CA:
${renderUnicodeCompact(advertisedUrl(trust.url), { border: 1 })}`;
}
