/**
 * Real `nats-server` processes (Debian's package) for tests: one server or a cluster of
 * several on 127.0.0.1, each on free ports, its config written to a temporary directory.
 * `stop()` ends each process by its PID and deletes the directory; `kill(i)` ends one
 * server abruptly (SIGKILL) to test failover.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Path of the server binary (Debian installs it on PATH). */
export const NATS_SERVER = process.env.NATS_SERVER ?? 'nats-server';

/** Who may connect. */
export type NatsAuth = { user: string; pass: string } | { token: string } | null;

/** Options of {@link startNatsCluster}. */
export interface NatsClusterOptions {
  /** How many servers (default 1; above 1 they form a cluster over routes). */
  size?: number;
  auth?: NatsAuth;
  /** Also listen for MQTT clients (turns JetStream on, which MQTT needs). */
  mqtt?: boolean;
  /** Also listen for WebSocket clients (browsers), without TLS (loopback only). */
  websocket?: boolean;
}

/** One running server. */
export interface NatsServerProcess {
  name: string;
  /** `nats://127.0.0.1:PORT` */
  url: string;
  /** `mqtt://127.0.0.1:PORT` when MQTT is on. */
  mqttUrl?: string;
  /** `ws://127.0.0.1:PORT` when WebSocket is on. */
  wsUrl?: string;
  pid: number;
}

/** A running cluster. */
export interface NatsCluster {
  servers: NatsServerProcess[];
  /** Every client URL. */
  urls: string[];
  /** SIGKILL server `i` (a crash: no goodbye to its clients). */
  kill(i: number): Promise<void>;
  /** Stop every server still running and delete the temporary directory. */
  stop(): Promise<void>;
}

/** A TCP port nobody listens on right now (on 127.0.0.1). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function authorization(auth: NatsAuth): string {
  if (!auth) return '';
  // A generous login timeout (the default is 2 s): a thousand clients connecting at once on a loaded machine need it.
  if ('token' in auth) return `authorization { token: ${JSON.stringify(auth.token)}, timeout: 30 }`;
  return `authorization { users: [ { user: ${JSON.stringify(auth.user)}, password: ${JSON.stringify(auth.pass)} } ], timeout: 30 }`;
}

/** The configuration of server `name` (the cluster's template). */
export function natsServerConfig(o: {
  name: string; port: number; clusterPort?: number; routes?: number[]; auth: NatsAuth; dir: string; mqttPort?: number; wsPort?: number;
}): string {
  const lines = [
    `server_name: ${o.name}`,
    `listen: 127.0.0.1:${o.port}`,
    // Room for a 256 KiB transport message plus its header and seal.
    'max_payload: 1MB',
    authorization(o.auth),
  ];
  if (o.clusterPort !== undefined) {
    lines.push(`cluster { name: liquidmesh-test, listen: 127.0.0.1:${o.clusterPort}, routes: [${(o.routes ?? []).map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}] }`);
  }
  if (o.wsPort !== undefined) lines.push(`websocket { listen: 127.0.0.1:${o.wsPort}, no_tls: true }`);
  if (o.mqttPort !== undefined) {
    lines.push(`jetstream { store_dir: ${JSON.stringify(join(o.dir, `${o.name}-js`))}, max_memory_store: 64MB, max_file_store: 256MB }`);
    lines.push(`mqtt { listen: 127.0.0.1:${o.mqttPort} }`);
  }
  return `${lines.filter(Boolean).join('\n')}\n`;
}

function waitReady(child: ChildProcess, name: string, log: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 15 s:\n${log()}`)), 15_000);
    const check = (): void => {
      if (log().includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${log()}`));
    });
  });
}

/** Start `size` servers (a cluster when more than one) and wait until each is ready. */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const size = options.size ?? 1;
  const dir = mkdtempSync(join(tmpdir(), 'liquidmesh-nats-'));
  const children: (ChildProcess | null)[] = [];
  const servers: NatsServerProcess[] = [];
  const stopOne = async (i: number, signal: NodeJS.Signals): Promise<void> => {
    const child = children[i];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    process.kill(child.pid!, signal);
    await exited;
    children[i] = null;
  };
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((_, i) => stopOne(i, 'SIGTERM')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports = await Promise.all(Array.from({ length: size }, async () => ({
      client: await freePort(), cluster: await freePort(), mqtt: await freePort(), ws: await freePort(),
    })));
    const ready: Promise<void>[] = [];
    ports.forEach((p, i) => {
      const name = `n${i + 1}`;
      const config = natsServerConfig({
        name, port: p.client, auth: options.auth ?? null, dir,
        ...(size > 1 ? { clusterPort: p.cluster, routes: ports.filter((_, j) => j !== i).map((q) => q.cluster) } : {}),
        ...(options.mqtt ? { mqttPort: p.mqtt } : {}),
        ...(options.websocket ? { wsPort: p.ws } : {}),
      });
      const file = join(dir, `${name}.conf`);
      writeFileSync(file, config);
      const child = spawn(NATS_SERVER, ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        log = (log + chunk).slice(-20_000);
      });
      child.on('error', () => {});
      children.push(child);
      ready.push(waitReady(child, name, () => log));
      servers.push({
        name, url: `nats://127.0.0.1:${p.client}`, pid: child.pid ?? -1,
        ...(options.mqtt ? { mqttUrl: `mqtt://127.0.0.1:${p.mqtt}` } : {}),
        ...(options.websocket ? { wsUrl: `ws://127.0.0.1:${p.ws}` } : {}),
      });
    });
    await Promise.all(ready);
  } catch (error) {
    await stop();
    throw error;
  }
  return { servers, urls: servers.map((s) => s.url), kill: (i) => stopOne(i, 'SIGKILL'), stop };
}
