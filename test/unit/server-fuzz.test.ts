/**
 * No request crashes a server of the Node host: the PWA server, the signaling server
 * (y-webrtc and its PeerJS mount) and the gateway get malformed URLs, percent-encodings,
 * bad and huge headers, bad bodies (truncated multipart, wrong Content-Length, invalid
 * JSON, garbage) on every route, from a seeded generator — the seed is printed; replay a
 * failure with LIQUIDMESH_FUZZ_SEED=<seed>. Afterwards every server still answers a
 * normal request, and no answer was a 500 (the gateway's upstream failures are 502–504).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type Gateway } from '../../node-host/gateway/gateway.ts';
import { startSignalServer, type SignalServer } from '../../node-host/signal/signal-server.ts';
import { startWebServer, type WebServer } from '../../node-host/web-server.ts';
import { createLogger } from '../../shared/log.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { deployFibo, fiboPeer, raw, send } from '../helpers/http-client.ts';
import { collectLogs } from '../helpers/mesh.ts';
import { prng } from '../sim/simulator.ts';

/** Cases per server and route set; the whole run stays bounded. */
const CASES_PER_SERVER = 120;
const CONCURRENCY = 6;


const SEGMENTS = ['%', '%zz', '%00', '%2e%2e', '..%2f..%2f', '..', '%E2%82', '%C3%BC', 'ü', '😀', 'a'.repeat(3000), '%25', '%2F', '\u0000'.replace('\u0000', '%00'), 'fibo', '__proto__', 'constructor', '', '%ff%fe', '..%5c..%5c'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'PROPFIND', 'BREW'];

interface Target {
  name: string;
  host: string;
  port: number;
  /** Path patterns, `:param` replaced by fuzz. */
  paths: { method: string; pattern: string }[];
}

describe('servers under malformed requests', () => {
  const log = collectLogs();
  const seed = Number(process.env.LIQUIDMESH_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const random = prng(seed);
  const pick = <T,>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  let dir = '';
  let web: WebServer;
  let signal: SignalServer;
  let node: SupervisedPeer;
  let gateway: Gateway;
  let routes: { method: string; pattern: string }[] = [];

  beforeAll(async () => {
    console.log(`server fuzz seed: ${seed} (replay with LIQUIDMESH_FUZZ_SEED=${seed})`);
    dir = await mkdtemp(join(tmpdir(), 'lm-fuzz-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>pwa</title>');
    await writeFile(join(dir, 'app.js'), 'export {}');
    web = await startWebServer({ root: dir });
    signal = await startSignalServer({ logger: createLogger('signal', log.sink) });
    ({ peer: node } = await fiboPeer('fuzz-a', log.sink));
    gateway = await startGateway({ peer: node, port: 0, deployTimeoutMs: 2000, fetchTimeoutMs: 1000, guiDir: dir });
    routes = gateway.routes();
  });

  afterAll(async () => {
    await gateway?.close();
    await node?.stop();
    await signal?.close();
    await web?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A path from `pattern` with fuzzed parameters (and sometimes a fuzzed query). */
  const fuzzPath = (pattern: string): string => {
    let path = pattern.replace(/:[A-Za-z]+/g, () => (random() < 0.3 ? 'fibo' : pick(SEGMENTS)));
    if (random() < 0.2) path += pick(SEGMENTS);
    if (random() < 0.4) path += `?${pick(['param0=12', 'device=%', 'limit=-1', 'limit=1e308', 'device=all', '%=%', 'a[b][c]=1', 'x=' + 'y'.repeat(2000)])}`;
    return path;
  };

  /** One malformed request, as the bytes on the wire. */
  const fuzzRequest = (t: Target): Buffer => {
    const route = pick(t.paths);
    const method = random() < 0.7 ? route.method : pick(METHODS);
    const path = fuzzPath(route.pattern);
    const host = random() < 0.9 ? `${t.host}:${t.port}` : pick(['evil.example', '', '[::1', 'a'.repeat(300), `${t.host}:${t.port}, other`]);
    const headers: string[] = [`${method} ${path} HTTP/1.1`, `Host: ${host}`];
    const kind = Math.floor(random() * 9);
    let body: Buffer = Buffer.alloc(0);
    let declared: number | null = null;
    switch (kind) {
      case 0: // invalid JSON
        headers.push('Content-Type: application/json');
        body = Buffer.from(pick(['{', '{"a":', '[1,2', 'nul', '"\\ud800"', '{"__proto__":{"x":1}}', '1e999', '{"deploymentId":{}}']));
        break;
      case 1: { // truncated multipart: the boundary never closes
        const b = 'XyZ';
        headers.push(`Content-Type: multipart/form-data; boundary=${pick([b, '', '"', 'a'.repeat(100)])}`);
        body = Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="module"; filename="m.wasm"\r\nContent-Type: application/wasm\r\n\r\n\0asm\x01\0\0\0`);
        break;
      }
      case 2: // Content-Length larger than the body: the client gives up half way
        headers.push('Content-Type: application/json');
        body = Buffer.from('{"name":"x"');
        declared = body.byteLength + 1000;
        break;
      case 3: // Content-Length smaller than the body: the rest is a garbage request
        headers.push('Content-Type: text/plain');
        body = Buffer.from('hello world GARBAGE \r\n\r\n');
        declared = 3;
        break;
      case 4: { // binary garbage of any declared type
        headers.push(`Content-Type: ${pick(['application/octet-stream', 'application/x-www-form-urlencoded', 'multipart/form-data', 'image/jpeg', 'text/html;;;', '\u00ff/\u00fe'])}`);
        body = Buffer.from(Array.from({ length: Math.floor(random() * 2048) }, () => Math.floor(random() * 256)));
        break;
      }
      case 5: // a bad Content-Length, or two that disagree
        headers.push(pick(['Content-Length: abc', 'Content-Length: -1', 'Content-Length: 5\r\nContent-Length: 6', 'Content-Length: 99999999999999999999']));
        body = Buffer.from('12345');
        declared = -1;
        break;
      case 6: // bad chunked encoding
        headers.push('Transfer-Encoding: chunked');
        body = Buffer.from(pick(['zz\r\nabc\r\n0\r\n\r\n', '5\r\nab', 'ffffffffffffffff\r\n', '0\r\nX: y\r\n']));
        declared = -1;
        break;
      case 7: // huge or malformed headers
        headers.push(pick([`X-Big: ${'a'.repeat(20_000)}`, 'Bad Header: x', 'X-Nul: a\0b', `Origin: ${'o'.repeat(5000)}`, 'Authorization: Bearer \u00ff\u00fe', 'Accept: text/html', 'Sec-Fetch-Site: cross-site']));
        break;
      default: // urlencoded with odd fields
        headers.push('Content-Type: application/x-www-form-urlencoded');
        body = Buffer.from(pick(['a=%', 'a[=1', '%zz=%zz', 'a'.repeat(5000) + '=1', 'fibo[method]=GET&fibo[param0]=integer', '&&&==']));
    }
    if (declared === null) headers.push(`Content-Length: ${body.byteLength}`);
    else if (declared >= 0) headers.push(`Content-Length: ${declared}`);
    return Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
  };

  /** Fixed cases every server gets, beside the random ones. */
  const fixed = (t: Target): Buffer[] => [
    ...['/%', '/%zz', '/%00', `/${'a'.repeat(9000)}`, '/..%2f..%2fetc%2fpasswd', '/%E2%82%AC%', '/ü', '/%F0%9F%98%80', '//evil.example/x', 'http://evil.example/', '*'].map((p) => Buffer.from(`GET ${p} HTTP/1.1\r\nHost: ${t.host}:${t.port}\r\n\r\n`, 'utf8')),
    Buffer.from(`GET / HTTP/1.1\r\nHost: ${t.host}:${t.port}\r\nX-Long: ${'b'.repeat(70_000)}\r\n\r\n`),
    Buffer.from('GET /\0 HTTP/1.1\r\n\r\n'),
    Buffer.from('NOT HTTP AT ALL\r\n\r\n'),
    Buffer.from(`GET / HTTP/9.9\r\nHost: ${t.host}\r\n\r\n`),
    Buffer.from(`GET / HTTP/1.1\r\n\r\n`),
    Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919) % 256)),
    Buffer.from(`GET /signal HTTP/1.1\r\nHost: ${t.host}:${t.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %%%\r\nSec-WebSocket-Version: 99\r\n\r\n`),
    Buffer.from(`GET /peerjs/peerjs?key=%&id=%zz&token=%00 HTTP/1.1\r\nHost: ${t.host}:${t.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\xfe\xff\xffgarbage`),
  ];

  const hammer = async (t: Target): Promise<{ status: number; request: string }[]> => {
    const requests = [...fixed(t), ...Array.from({ length: CASES_PER_SERVER }, () => fuzzRequest(t))];
    const out: { status: number; request: string }[] = [];
    for (let i = 0; i < requests.length; i += CONCURRENCY) {
      const batch = requests.slice(i, i + CONCURRENCY);
      const answers = await Promise.all(batch.map((bytes) => raw(t.host, t.port, bytes, { waitMs: 1500 })));
      answers.forEach((a, j) => out.push({ status: a.status, request: batch[j]!.toString('latin1').slice(0, 300) }));
    }
    return out;
  };

  const expectNo500 = (name: string, answers: { status: number; request: string }[]): void => {
    const bad = answers.filter((a) => a.status === 500 || a.status > 504);
    expect(bad, `${name} (seed ${seed}): ${JSON.stringify(bad.slice(0, 3))}`).toEqual([]);
    // Most requests got an answer (a few wait for a body that never comes).
    expect(answers.filter((a) => a.status >= 400).length, name).toBeGreaterThan(answers.length / 3);
  };

  it('the PWA server', async () => {
    const t: Target = { name: 'pwa', host: '127.0.0.1', port: web.port, paths: [{ method: 'GET', pattern: '/' }, { method: 'GET', pattern: '/:file' }, { method: 'GET', pattern: '/assets/:file' }, { method: 'POST', pattern: '/' }] };
    expectNo500('pwa', await hammer(t));
    const bad = await raw('127.0.0.1', web.port, Buffer.from(`GET /% HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\n\r\n`));
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('ERR_BAD_URL');
    const index = await send(web.url, 'GET', '/');
    expect(index.status).toBe(200);
    expect(index.text).toContain('<title>pwa</title>');
    expect((await send(web.url, 'GET', '/app.js')).headers['content-type']).toContain('javascript');
  }, 120_000);

  it('the signaling server and its PeerJS mount', async () => {
    const port = signal.port;
    const t: Target = {
      name: 'signal', host: '127.0.0.1', port,
      paths: [{ method: 'GET', pattern: '/signal' }, { method: 'GET', pattern: '/peerjs' }, { method: 'GET', pattern: '/peerjs/:key/id' }, { method: 'GET', pattern: '/peerjs/:key/peers' }, { method: 'POST', pattern: '/peerjs/:key/:id/:token/offer' }, { method: 'GET', pattern: '/:x' }],
    };
    expectNo500('signal', await hammer(t));
    const description = await send(signal.url, 'GET', '/peerjs');
    expect(description.status).toBe(200);
    expect((await send(signal.url, 'GET', '/peerjs/peerjs/id')).status).toBe(200);
    // The y-webrtc endpoint still takes a WebSocket.
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(signal.signalUrl);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.close();
  }, 120_000);

  it('the gateway, on every route of its router', async () => {
    expect(routes.length).toBeGreaterThan(20);
    const url = new URL(gateway.url);
    const t: Target = { name: 'gateway', host: '127.0.0.1', port: Number(url.port), paths: routes };
    const answers = await hammer(t);
    expectNo500('gateway', answers);
    // Each route at least once with a normal Host and fuzzed parameters, through node:http.
    for (const r of routes) {
      // node:http sends only ASCII paths: what is not ASCII goes percent-encoded.
      const path = fuzzPath(r.pattern).replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
      const answer = await send(gateway.url, r.method, path, { headers: { 'content-type': 'application/json' }, body: r.method === 'GET' || r.method === 'HEAD' ? undefined : '{"x":' });
      expect(answer.status === 500 || answer.status > 504, `${r.method} ${r.pattern} → ${answer.status} ${answer.text.slice(0, 200)} (seed ${seed})`).toBe(false);
    }
    expect((await send(gateway.url, 'GET', '/file/device')).status).toBe(200);
    // The fuzz may legitimately have deleted device records, modules and deployments
    // (DELETE /file/device, /file/module, /deploy/fibo): rescan, then deploy fibo again.
    expect((await send(gateway.url, 'POST', '/file/device/discovery/reset')).status).toBe(200);
    const again = await deployFibo(node, 'fibo-again');
    const call = await send(gateway.url, 'GET', `/${again.deployment}/modules/fibo/fibo?param0=12`);
    expect(call.status).toBe(200);
    expect(call.json.result).toBe(233);
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
  }, 180_000);
});
