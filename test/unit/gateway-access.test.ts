/**
 * Who may drive the HTTP gateway: a page on another origin cannot change anything (simple
 * cross-origin POSTs, multipart and text/plain, are refused and the deployment answers as
 * before), a foreign Host (DNS rebinding) is refused, curl-like requests keep working on
 * loopback, CORS is answered for allowed origins only, `--gui-dir` serves its files and
 * nothing outside them, and a gateway bound beyond loopback wants its bearer token.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type Gateway } from '../../node-host/gateway/gateway.ts';
import { gatewayToken, parseAccessArgs } from '../../node-host/gateway/access-args.ts';
import { clientToken, loadOrCreateToken } from '../../node-host/gateway/token.ts';
import { encodeForm, GatewayClient } from '../../node-host/cli/gateway-client.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { collectLogs } from '../helpers/mesh.ts';
import { fiboPeer, send } from '../helpers/http-client.ts';

const EVIL = 'http://evil.example';
const FRIEND = 'http://gui.example:8080';

describe('HTTP gateway: access', () => {
  const log = collectLogs();
  let node: SupervisedPeer;
  let gateway: Gateway;
  let dir = '';
  let gui = '';

  const call = async (headers: Record<string, string> = {}): Promise<number> => (await send(gateway.url, 'GET', '/fibo/modules/fibo/fibo?param0=12', { headers })).json?.result as number;

  beforeAll(async () => {
    ({ peer: node } = await fiboPeer('access-a', log.sink));
    dir = await mkdtemp(join(tmpdir(), 'lm-access-'));
    gui = join(dir, 'gui');
    await mkdir(join(gui, 'assets'), { recursive: true });
    await writeFile(join(gui, 'index.html'), '<!doctype html><title>gui</title>');
    await writeFile(join(gui, 'assets', 'app.js'), 'console.log("gui")');
    await writeFile(join(gui, 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await writeFile(join(dir, 'secret.txt'), 'outside the GUI');
    await symlink(join(dir, 'secret.txt'), join(gui, 'link.txt'));
    gateway = await startGateway({ peer: node, port: 0, allowedOrigins: [FRIEND], guiDir: gui });
  });

  afterAll(async () => {
    await gateway?.close();
    await node?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps curl-like requests (no Origin) working on loopback, by address and by name', async () => {
    expect((await send(gateway.url, 'GET', '/file/device')).status).toBe(200);
    expect((await send(gateway.url, 'GET', '/file/device', { headers: { host: `localhost:${new URL(gateway.url).port}` } })).status).toBe(200);
    expect(await call()).toBe(233);
    const created = await send(gateway.url, 'POST', '/file/manifest', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'curl', sequence: [{ module: 'fibo', func: 'fibo' }] }) });
    expect(created.status, created.text).toBe(201);
    expect((await send(gateway.url, 'DELETE', `/file/manifest/${JSON.parse(created.text) as string}`)).status).toBe(200);
  });

  it('refuses simple cross-origin POSTs (multipart and text/plain) and changes nothing', async () => {
    const before = node.peer.registry.deployments.get('fibo')!.record.revision;
    const modules = node.peer.registry.modules.size;
    const wasm = new Uint8Array(await readFile(new URL('../../modules/fibo/fibo.wasm', import.meta.url)));
    const form = encodeForm([{ name: 'name', value: 'evil' }, { name: 'module', value: wasm, filename: 'evil.wasm', contentType: 'application/wasm' }]);
    const multipart = await send(gateway.url, 'POST', '/file/module', { headers: { origin: EVIL, 'content-type': form.contentType, 'sec-fetch-site': 'cross-site' }, body: form.body });
    expect(multipart.status).toBe(403);
    expect(multipart.json).toMatchObject({ code: 'ERR_ORIGIN_DENIED' });
    expect(multipart.headers['access-control-allow-origin']).toBeUndefined();
    // A "simple" text/plain request carrying a JSON DeploymentNode that would replace fibo.
    const replace = JSON.stringify({ deploymentId: 'fibo', modules: [{ id: 'x', name: 'fibo', urls: { binary: `${gateway.url}/file/module/fibo/wasm`, other: [] } }], instructions: { modules: { fibo: { fibo: { to: null } } } } });
    const plain = await send(gateway.url, 'POST', '/deploy', { headers: { origin: EVIL, 'content-type': 'text/plain' }, body: replace });
    expect(plain.status).toBe(403);
    expect(plain.json.code).toBe('ERR_ORIGIN_DENIED');
    // Browsers send Origin: null from sandboxed frames and file:// pages.
    expect((await send(gateway.url, 'DELETE', '/deploy/fibo', { headers: { origin: 'null' } })).json.code).toBe('ERR_ORIGIN_DENIED');
    expect(node.peer.registry.deployments.get('fibo')!.record.revision).toBe(before);
    expect(node.peer.registry.modules.size).toBe(modules);
    expect(await call()).toBe(233);
  });

  it('refuses what a browser marks as sent by another site, even a GET (an <img> that would run a function)', async () => {
    const history = (await node.supervisor.history.query({ limit: 10_000 })).length;
    const img = await send(gateway.url, 'GET', '/fibo/modules/fibo/fibo?param0=12', { headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' } });
    expect(img.status).toBe(403);
    expect(img.json.code).toBe('ERR_ORIGIN_DENIED');
    expect((await send(gateway.url, 'GET', '/file/device', { headers: { 'sec-fetch-site': 'same-site' } })).status).toBe(403);
    expect((await node.supervisor.history.query({ limit: 10_000 })).length).toBe(history);
    // Typed into the address bar, or from the gateway's own pages: allowed.
    expect(await call({ 'sec-fetch-site': 'none' })).toBe(233);
    expect(await call({ 'sec-fetch-site': 'same-origin' })).toBe(233);
  });

  it('refuses a Host that does not name the gateway (DNS rebinding) with 421 ERR_HOST_DENIED', async () => {
    const port = new URL(gateway.url).port;
    for (const h of [`evil.example:${port}`, 'evil.example', `127.0.0.1:${Number(port) + 1}`, `127.0.0.2:${port}`]) {
      const answer = await send(gateway.url, 'GET', '/fibo/modules/fibo/fibo?param0=12', { headers: { host: h } });
      expect(answer.status, h).toBe(421);
      expect(answer.json.code).toBe('ERR_HOST_DENIED');
    }
    const rebound = await send(gateway.url, 'POST', '/file/manifest', { headers: { host: `attacker.example:${port}`, 'content-type': 'application/json' }, body: '{"name":"x","sequence":[]}' });
    expect(rebound.status).toBe(421);
  });

  it('answers CORS preflights for allowed origins only, and adds CORS headers only for them', async () => {
    const preflight = await send(gateway.url, 'OPTIONS', '/file/manifest', { headers: { origin: FRIEND, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(FRIEND);
    expect(String(preflight.headers['access-control-allow-methods'])).toContain('POST');
    expect(String(preflight.headers['access-control-allow-headers'])).toMatch(/authorization/);
    expect(String(preflight.headers['access-control-allow-headers'])).toMatch(/content-type/);
    expect(Number(preflight.headers['access-control-max-age'])).toBeGreaterThan(0);
    expect(String(preflight.headers.vary)).toContain('Origin');

    const denied = await send(gateway.url, 'OPTIONS', '/file/manifest', { headers: { origin: EVIL, 'access-control-request-method': 'POST' } });
    expect(denied.status).toBe(403);
    expect(denied.json.code).toBe('ERR_ORIGIN_DENIED');
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
    expect(denied.headers['access-control-allow-methods']).toBeUndefined();

    const read = await send(gateway.url, 'GET', '/file/device', { headers: { origin: FRIEND, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' } });
    expect(read.status).toBe(200);
    expect(read.headers['access-control-allow-origin']).toBe(FRIEND);
    const foreign = await send(gateway.url, 'GET', '/file/device', { headers: { origin: EVIL } });
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    // The allowed origin may change things.
    const created = await send(gateway.url, 'POST', '/file/manifest', { headers: { origin: FRIEND, 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' }, body: JSON.stringify({ name: 'friend', sequence: [{ module: 'fibo', func: 'fibo' }] }) });
    expect(created.status, created.text).toBe(201);
    expect(created.headers['access-control-allow-origin']).toBe(FRIEND);
    expect((await send(gateway.url, 'DELETE', `/file/manifest/${JSON.parse(created.text) as string}`)).status).toBe(200);
  });

  it('serves --gui-dir files with their media types and nothing outside the directory', async () => {
    const index = await send(gateway.url, 'GET', '/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toContain('text/html');
    expect(index.text).toContain('<title>gui</title>');
    const js = await send(gateway.url, 'GET', '/assets/app.js');
    expect(js.headers['content-type']).toContain('text/javascript');
    expect(js.headers['x-content-type-options']).toBe('nosniff');
    expect((await send(gateway.url, 'GET', '/logo.svg')).headers['content-type']).toBe('image/svg+xml');
    // A navigation to a path that names no file is the single-page app's.
    const deep = await send(gateway.url, 'GET', '/devices/some-device', { headers: { accept: 'text/html' } });
    expect(deep.status).toBe(200);
    expect(deep.text).toContain('<title>gui</title>');
    expect((await send(gateway.url, 'GET', '/missing.js')).status).toBe(404);
    // A link from another site opens the GUI; the same navigation to an API route that runs a function does not.
    expect((await send(gateway.url, 'GET', '/', { headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' } })).status).toBe(200);
    expect((await send(gateway.url, 'GET', '/fibo/modules/fibo/fibo?param0=1', { headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' } })).status).toBe(403);
    for (const path of ['/..%2fsecret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/link.txt', '/%00', '/..%5csecret.txt', '/%']) {
      const answer = await send(gateway.url, 'GET', path, { headers: { accept: 'text/html' } });
      expect(answer.text, path).not.toContain('outside the GUI');
      expect([400, 404], path).toContain(answer.status);
    }
    // The API keeps its routes.
    expect((await send(gateway.url, 'GET', '/file/device')).headers['content-type']).toContain('application/json');
  });

  it('creates the token once (0600) and the CLI reads it from LIQUIDMESH_TOKEN or the data directory', async () => {
    const data = join(dir, 'data');
    const first = await loadOrCreateToken(data);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);
    expect((await loadOrCreateToken(data)).token).toBe(first.token);
    expect(await clientToken({}, data)).toBe(first.token);
    expect(await clientToken({ LIQUIDMESH_TOKEN: 'from-env' }, data)).toBe('from-env');
    expect(await clientToken({ LIQUIDMESH_DATA_DIR: data })).toBe(first.token);
    const said: string[] = [];
    expect(await gatewayToken('127.0.0.1', data, (t) => said.push(t))).toEqual({});
    expect((await gatewayToken('10.1.2.3', data, (t) => said.push(t))).token).toBe(first.token);
    expect(said).toEqual([]);
    // A host that keeps nothing gets a token for this run, announced.
    const ephemeral = await gatewayToken('10.1.2.3', null, (t) => said.push(t));
    expect(ephemeral.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(ephemeral.token).not.toBe(first.token);
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(ephemeral.token);
  });

  it('reads the access flags of start and peer, refusing what is not an origin, a fetch allowance or a directory', async () => {
    const parsed = await parseAccessArgs(['--allow-origin', 'https://App.example:8443', '--allow-origin=http://gui.example/', '--allow-host', 'pi.lan', '--allow-fetch-from', '10.0.0.0/8', '--allow-fetch-from=files.lan:8000', '--gui-dir', gui, '--name', 'x']);
    expect(parsed).toEqual({ allowedOrigins: ['https://app.example:8443', 'http://gui.example'], allowedHosts: ['pi.lan'], allowFetchFrom: ['10.0.0.0/8', 'files.lan:8000'], guiDir: gui });
    for (const bad of [['--allow-origin', 'https://app.example/path'], ['--allow-origin', '*'], ['--allow-origin', 'file:///x'], ['--allow-fetch-from', '10.0.0.0/99'], ['--gui-dir', join(dir, 'nope')], ['--allow-origin']]) {
      await expect(parseAccessArgs(bad), bad.join(' ')).rejects.toMatchObject({ code: 'ERR_INVALID_PARAMS' });
    }
  });

  it('bound beyond loopback, wants the bearer token on every request but a preflight', async () => {
    if (process.env.LIQUIDMESH_NETNS !== '1') throw new Error('run inside the loopback-only namespace (node test/netns.mjs …): the test adds an address to its lo');
    const address = '10.213.77.1';
    execFileSync('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo']);
    let lan: Gateway | undefined;
    try {
      await expect(startGateway({ peer: node, port: 0, host: address })).rejects.toMatchObject({ code: 'ERR_INVALID_PARAMS' });
      const { token } = await loadOrCreateToken(join(dir, 'lan'));
      lan = await startGateway({ peer: node, port: 0, host: address, token, allowedOrigins: [FRIEND], guiDir: gui });
      expect(lan.url).toBe(`http://${address}:${new URL(lan.url).port}`);
      const none = await send(lan.url, 'GET', '/file/device');
      expect(none.status).toBe(401);
      expect(none.json.code).toBe('ERR_UNAUTHORIZED');
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      for (const wrong of [`Bearer ${token.slice(1)}x`, `Bearer ${token}x`, token, 'Bearer ', `Basic ${token}`, `Bearer ${'é'.repeat(43)}`]) {
        expect((await send(lan.url, 'GET', '/file/device', { headers: { authorization: wrong } })).status, wrong).toBe(401);
      }
      expect((await send(lan.url, 'OPTIONS', '/file/device')).status).toBe(401);
      // The GUI's static files load in a browser (which cannot add the token to a navigation); its API calls need the token.
      const page = await send(lan.url, 'GET', '/', { headers: { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'none' } });
      expect(page.status).toBe(200);
      expect(page.text).toContain('<title>gui</title>');
      expect((await send(lan.url, 'GET', '/', { headers: { host: 'evil.example' } })).status).toBe(421);
      const post = await send(lan.url, 'POST', '/file/manifest', { headers: { 'content-type': 'application/json' }, body: '{"name":"x","sequence":[{"module":"fibo","func":"fibo"}]}' });
      expect(post.status).toBe(401);
      const ok = await send(lan.url, 'GET', '/fibo/modules/fibo/fibo?param0=12', { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(ok.json.result).toBe(233);
      // The CLI's client sends the token it is given, and names the refusal without it.
      expect((await new GatewayClient(lan.url, token).json<unknown[]>('GET', '/file/device')).length).toBe(1);
      await expect(new GatewayClient(lan.url).json('GET', '/file/device')).rejects.toMatchObject({ code: 'ERR_UNAUTHORIZED' });
      const preflight = await send(lan.url, 'OPTIONS', '/file/device', { headers: { origin: FRIEND, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
      expect(preflight.status).toBe(204);
      const foreign = await send(lan.url, 'GET', '/file/device', { headers: { host: `evil.example:${new URL(lan.url).port}`, authorization: `Bearer ${token}` } });
      expect(foreign.status).toBe(421);

      // A GUI that cannot send the token (WasmIoT's) is opened once with it: the browser is
      // signed in with a cookie and sent on without the token in its address bar.
      expect((await send(lan.url, 'GET', `/?token=${token.slice(1)}x`)).status).toBe(401);
      const signIn = await send(lan.url, 'GET', `/assets/app.js?v=2&token=${token}`, { headers: { 'sec-fetch-site': 'none' } });
      expect(signIn.status).toBe(303);
      expect(signIn.headers.location).toBe('/assets/app.js?v=2');
      const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
      expect(String(signIn.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict/);
      const fromGui = await send(lan.url, 'GET', '/file/device', { headers: { cookie, 'sec-fetch-site': 'same-origin' } });
      expect(fromGui.status).toBe(200);
      expect((await send(lan.url, 'GET', '/file/device', { headers: { cookie: `${cookie.split('=')[0]}=${token.slice(1)}x` } })).status).toBe(401);
      // The cookie does not make another site's request the user's.
      expect((await send(lan.url, 'GET', '/fibo/modules/fibo/fibo?param0=12', { headers: { cookie, 'sec-fetch-site': 'cross-site', origin: EVIL } })).status).toBe(403);
      expect((await send(lan.url, 'POST', '/file/manifest', { headers: { cookie, origin: EVIL, 'content-type': 'text/plain' }, body: '{}' })).status).toBe(403);
    } finally {
      await lan?.close();
      execFileSync('ip', ['addr', 'del', `${address}/32`, 'dev', 'lo']);
    }
  });
});
