// Firefox ESR, with a user's default preferences (host candidates hidden behind mDNS
// names, gathered only on the default route's interface), and another peer meet over
// WebRTC and exchange the largest message the transport takes, each way. Run inside a
// namespace with a link (test/netns.mjs with LIQUIDMESH_NETNS_LINK=1) by firefox.e2e.ts;
// prints one JSON line of what each side saw. The argument picks the other peer and who
// offers (the lower id dials): `node` (a Node peer, node-datachannel, offers), `firefox`
// (the Node peer answers Firefox's offer), `chromium` (headless Chromium offers).
import '../../../node-host/webrtc/globals.ts';
import { createServer } from 'node:http';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import puppeteer from 'puppeteer-core';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../../../node-host/headless/chromium.ts';
import { startSignalServer } from '../../../node-host/signal/signal-server.ts';
import { WebRtcTransport } from '../../../shared/adapters/webrtc-transport.ts';
import { FIREFOX_PATH, FIREFOX_PREFS } from '../../engines/engines.mjs';
import { LINK_ADDRESS } from '../../netns.mjs';

/** Longest a run may take; well inside the test's own time limit. */
const WATCHDOG_MS = 150_000;
const dial = process.argv[2] === 'firefox' || process.argv[2] === 'chromium' ? process.argv[2] : 'node';
const [nodeId, pageId] = dial === 'firefox' ? ['f'.repeat(32), '0'.repeat(32)] : ['0'.repeat(32), 'f'.repeat(32)];
const mesh = `engines-${Math.random().toString(36).slice(2)}`;
const dir = await mkdtemp(join(tmpdir(), 'liquidmesh-firefox-link-'));
const signal = await startSignalServer();
const web = createServer((req, res) => {
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
  if (req.url?.startsWith('/page.js')) {
    res.setHeader('content-type', 'text/javascript');
    void readFile(join(dir, 'page.js')).then((b) => res.end(b));
  } else {
    res.setHeader('content-type', 'text/html');
    res.end('<!doctype html><script type="module" src="/page.js"></script>');
  }
});
const node = new WebRtcTransport({ signalUrl: signal.url, mesh, secret: 'engines', announceMs: 500, rtcConfig: { bindAddress: LINK_ADDRESS } });
const seen = { joined: [] as string[], received: [] as number[] };
node.on('peer-joined', (peer) => seen.joined.push(peer));
node.on('message', (m) => {
  seen.received.push(m.data.byteLength);
  void node.send(m.from, new Uint8Array(node.maxMessageSize).fill(9));
});
let browser: Awaited<ReturnType<typeof puppeteer.launch>> | null = null;
let chromium: Awaited<ReturnType<typeof puppeteer.launch>> | null = null;
// Where the run is, so that a run that hangs says where (the browsers run in process groups
// of their own: they are killed by PID here, not left behind).
let stage = 'bundling the page';
const watchdog = setTimeout(() => {
  console.error(`firefox-link.ts ${dial}: no result after ${WATCHDOG_MS / 1000} s, stuck ${stage}`);
  for (const b of [browser, chromium]) b?.process()?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  process.exit(2);
}, WATCHDOG_MS);
try {
  await build({ entryPoints: [fileURLToPath(new URL('./firefox-link-page.ts', import.meta.url))], bundle: true, format: 'esm', target: 'es2022', outfile: join(dir, 'page.js'), logLevel: 'silent' });
  stage = 'starting the page server';
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  const port = (web.address() as { port: number }).port;
  const pageUrl = (id: string): string => `http://127.0.0.1:${port}/?signal=${encodeURIComponent(signal.url)}&mesh=${mesh}&id=${id}`;
  // The other peer: this process's Node transport, or the same page in headless Chromium.
  let otherState = async (): Promise<typeof seen> => seen;
  if (dial === 'chromium') {
    stage = 'launching Chromium';
    chromium = await puppeteer.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS, userDataDir: join(dir, 'chromium') });
    const other = await chromium.newPage();
    await other.goto(pageUrl(nodeId));
    otherState = () => other.evaluate(() => (globalThis as unknown as { linkState: { joined: string[]; received: number[] } }).linkState);
  } else {
    stage = 'connecting the Node peer to signaling';
    await node.connect(nodeId);
  }
  // The test profile changes no ICE preference (FIREFOX_PREFS only skips the camera prompt).
  stage = 'launching Firefox';
  browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX_PATH, headless: true, extraPrefsFirefox: FIREFOX_PREFS, userDataDir: join(dir, 'profile') });
  stage = 'loading the page in Firefox';
  const page = await browser.newPage();
  await page.goto(pageUrl(pageId));
  stage = 'waiting for the link and the messages';
  const deadline = Date.now() + 30_000;
  let pageState = { joined: [] as string[], received: [] as number[], error: '' };
  let other = seen;
  while (Date.now() < deadline) {
    pageState = await page.evaluate(() => (globalThis as unknown as { linkState: { joined: string[]; received: number[]; error: string } }).linkState);
    other = await otherState();
    if (pageState.received.length > 0 && other.received.length > 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  console.log(JSON.stringify({ dial, maxMessageSize: node.maxMessageSize, node: other, page: pageState, pageId, nodeId }));
} finally {
  stage = 'closing the browsers';
  await browser?.close();
  await chromium?.close();
  await node.disconnect();
  await signal.close();
  web.close();
  await rm(dir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
// Everything is closed, but node-datachannel's native threads can keep a process alive for
// minutes after its last connection closed (the liquidmesh commands exit explicitly too).
process.exit(0);
