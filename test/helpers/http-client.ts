/**
 * HTTP requests as tests of the host's servers need them: with any Host, Origin or
 * Sec-Fetch header (node:http, which fetch() does not allow), or as raw bytes over TCP
 * (malformed HTTP), and a one-peer mesh with the fibo sample deployed behind a gateway.
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { createLogger, type LogSink } from '../../shared/log.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';

/** An answer. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies are checked field by field
  json: any;
}

/** Send one request to `base` (`http://host:port`); `headers.host` overrides the Host header. */
export function send(base: string, method: string, path: string, options: { headers?: Record<string, string>; body?: string | Uint8Array } = {}): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port, method, path, headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = undefined;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Write `bytes` to `host:port` as they are and read until the server closes or
 * `waitMs` passes; resolves with the status of the first answer (0 when none came).
 */
export function raw(host: string, port: number, bytes: Buffer, options: { waitMs?: number; endWrite?: boolean } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text });
    };
    const timer = setTimeout(finish, options.waitMs ?? 2000);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // One complete answer is enough: a body with a declared length that has arrived.
      const text = Buffer.concat(chunks).toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(text);
      if (head >= 0 && length && Buffer.byteLength(text, 'latin1') >= head + 4 + Number(length[1])) finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.write(bytes, () => {
      if (options.endWrite) socket.end();
    });
  });
}

/** Publish the fibo sample (again, if it was deleted) and deploy it as `id` on `peer`; resolves once ready. */
export async function deployFibo(peer: SupervisedPeer, id: string): Promise<{ deployment: string; moduleId: string }> {
  const dir = new URL('../../modules/fibo/', import.meta.url);
  const description = JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription;
  const record = await peer.orchestrator.packages.publish({ wasm: new Uint8Array(await readFile(new URL('fibo.wasm', dir))), description });
  const dep = peer.orchestrator.deploy({ name: id, sequence: [{ module: record.id, func: 'fibo', device: peer.peer.id }] }, { id });
  await peer.orchestrator.waitFor(dep.id, (v) => v.record.revision >= dep.revision && v.record.status === 'ready');
  return { deployment: dep.id, moduleId: record.id };
}

/** One Node peer on an in-memory network with the fibo sample published and deployed as `fibo`. */
export async function fiboPeer(name: string, sink?: LogSink): Promise<{ peer: SupervisedPeer; deployment: string; moduleId: string }> {
  const network = new MemoryNetwork();
  const peer = await startNodePeer({ name, transports: [network.createTransport()], logger: createLogger(`peer:${name}`, sink) });
  return { peer, ...(await deployFibo(peer, 'fibo')) };
}
