/**
 * What `POST /deploy` may make the host fetch: local and private targets (another
 * loopback port, link-local, 10.x, a name resolving to loopback, a redirect to loopback)
 * are refused with ERR_FETCH_DENIED before any connection, with the same answer whether
 * a port is open or closed; `allowFetchFrom` opens them; every other failure (404, closed
 * port, oversized body, slow server, endless redirects) is one ERR_FETCH_FAILED that does
 * not tell them apart; the gateway's own module URLs are read from the mesh.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type Gateway } from '../../node-host/gateway/gateway.ts';
import { isInternalAddress, parseAllowList } from '../../node-host/gateway/outbound-fetch.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { collectLogs } from '../helpers/mesh.ts';
import { fiboPeer, send } from '../helpers/http-client.ts';

describe('HTTP gateway: what POST /deploy may fetch', () => {
  const log = collectLogs();
  let node: SupervisedPeer;
  let moduleId = '';
  let strict: Gateway;
  let open: Gateway;
  let files: Server;
  let filesPort = 0;
  let closedPort = 0;
  let wasm: Uint8Array;
  const sockets = new Set<import('node:net').Socket>();

  const node0 = (id: string, binary: string): unknown => ({
    deploymentId: id,
    modules: [{ id, name: `m${id}`, urls: { binary, other: [] } }],
    instructions: { modules: { [`m${id}`]: { fibo: { to: null } } } },
  });
  const deploy = (gateway: Gateway, id: string, binary: string) =>
    send(gateway.url, 'POST', '/deploy', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(node0(id, binary)) });

  beforeAll(async () => {
    ({ peer: node, moduleId } = await fiboPeer('fetch-a', log.sink));
    wasm = new Uint8Array(await readFile(new URL('../../modules/fibo/fibo.wasm', import.meta.url)));
    files = createServer((req, res) => {
      const path = req.url ?? '/';
      if (path === '/fibo.wasm') res.writeHead(200, { 'content-length': wasm.byteLength }).end(wasm);
      else if (path === '/to-loopback') res.writeHead(302, { location: `http://127.0.0.1:${closedPort}/fibo.wasm` }).end();
      else if (path === '/to-self') res.writeHead(307, { location: '/fibo.wasm' }).end();
      else if (path.startsWith('/loop')) res.writeHead(302, { location: `/loop${path.length}` }).end();
      else if (path === '/big') res.writeHead(200, { 'content-type': 'application/wasm' }).end(Buffer.alloc(256 * 1024));
      else if (path === '/slow') res.writeHead(200).write('\0asm'); // and never ends
      else res.writeHead(404).end('nothing here');
    });
    files.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesPort = (files.address() as AddressInfo).port;
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    strict = await startGateway({ peer: node, port: 0 });
    open = await startGateway({
      peer: node, port: 0, fetchTimeoutMs: 1500, limits: { bodyBytes: 64 * 1024 },
      allowFetchFrom: [`127.0.0.1:${filesPort}`, `localhost:${closedPort}`],
    });
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await strict?.close();
    await open?.close();
    await new Promise((resolve) => files?.close(resolve));
    await node?.stop();
  });

  it('refuses loopback, link-local, private and loopback-named targets the same way whether a port is open or not', async () => {
    const answers = new Map<string, { status: number; code: string; error: string }>();
    for (const url of [
      `http://127.0.0.1:${filesPort}/fibo.wasm`, `http://127.0.0.1:${closedPort}/fibo.wasm`,
      `http://localhost:${filesPort}/fibo.wasm`, `http://[::1]:${filesPort}/fibo.wasm`, `http://[::ffff:127.0.0.1]:${filesPort}/fibo.wasm`,
      'http://169.254.169.254/latest/meta-data', 'http://10.0.0.1/fibo.wasm', 'http://192.168.1.1/', 'http://100.64.0.1/', 'http://0.0.0.0:22/',
      `http://2130706433:${filesPort}/fibo.wasm`, 'http://[fd00::1]/', 'http://224.0.0.1/',
    ]) {
      const answer = await deploy(strict, 'denied', url);
      answers.set(url, { status: answer.status, code: answer.json?.code, error: answer.json?.error });
      expect(answer.status, url).toBe(403);
      expect(answer.json.code, url).toBe('ERR_FETCH_DENIED');
    }
    const shape = (url: string): string => answers.get(url)!.error.replace(/:\d+\//, ':PORT/');
    expect(shape(`http://127.0.0.1:${filesPort}/fibo.wasm`)).toBe(shape(`http://127.0.0.1:${closedPort}/fibo.wasm`));
    expect(node.peer.registry.deployments.get('denied')).toBeUndefined();
  });

  it('refuses a redirect to loopback from an allowed server', async () => {
    const answer = await deploy(open, 'redir', `http://127.0.0.1:${filesPort}/to-loopback`);
    expect(answer.status).toBe(403);
    expect(answer.json.code).toBe('ERR_FETCH_DENIED');
  });

  it('fetches from a local server that --allow-fetch-from names, redirects included', async () => {
    const deployed = await deploy(open, 'allowed', `http://127.0.0.1:${filesPort}/to-self`);
    expect(deployed.status, deployed.text).toBe(200);
    expect((await send(open.url, 'GET', '/allowed/modules/mallowed/fibo?param0=12')).json.result).toBe(233);
  });

  it('answers every other failure with one ERR_FETCH_FAILED that does not say what answered', async () => {
    const errors: string[] = [];
    for (const path of [`http://127.0.0.1:${filesPort}/nothing.wasm`, `http://localhost:${closedPort}/fibo.wasm`, `http://127.0.0.1:${filesPort}/big`, `http://127.0.0.1:${filesPort}/slow`, `http://127.0.0.1:${filesPort}/loop`]) {
      const answer = await deploy(open, 'failed', path);
      expect(answer.status, path).toBe(502);
      expect(answer.json.code, path).toBe('ERR_FETCH_FAILED');
      expect(answer.json.data, path).toEqual({ url: path });
      errors.push(answer.json.error.replace(path, 'URL'));
    }
    expect(new Set(errors)).toEqual(new Set(['could not fetch URL']));
  });

  it("reads the gateway's own module URLs from the mesh, with no fetch", async () => {
    const own = await deploy(strict, 'own', `${strict.url}/file/module/${moduleId}/wasm`);
    expect(own.status, own.text).toBe(200);
    expect((await send(strict.url, 'GET', '/own/modules/mown/fibo?param0=7')).json.result).toBe(21);
    const byName = await deploy(strict, 'own2', `http://localhost:${new URL(strict.url).port}/file/module/fibo/wasm`);
    expect(byName.status, byName.text).toBe(200);
    const other = await deploy(strict, 'own3', `${strict.url}/file/device`);
    expect(other.json.code).toBe('ERR_FETCH_DENIED');
    const missing = await deploy(strict, 'own4', `${strict.url}/file/module/no-such-module/wasm`);
    expect(missing.json.code).toBe('ERR_FETCH_FAILED');
  });

  it('classifies addresses and parses allow lists', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.0.1', '169.254.1.1', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fe80::1', 'fd12::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1']) expect(isInternalAddress(a), a).toBe(true);
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '100.128.0.1', '172.32.0.1']) expect(isInternalAddress(a), a).toBe(false);
    expect(parseAllowList(['10.0.0.0/8', 'pi.local', 'pi.local:8080', '[::1]:3000', '::1'])).toHaveLength(5);
    expect(() => parseAllowList(['10.0.0.0/40'])).toThrow(/CIDR/);
    expect(() => parseAllowList(['http://x/'])).toThrow(/host/);
  });
});
