// The PWA for phones, in real Chromium: the page that says why an insecure or
// non-isolated page cannot join (and never that it is offline), the certificate step of
// the Join view, the engine label of every kind of browser, the device name a browser
// keeps (one per tab, the same one again after a tab lets go), leaving and rejoining the
// mesh as the page is hidden and shown, and every view at 360 px without sideways scroll.
import { setViewport } from '@web/test-runner-commands';
import { expect } from 'chai';
import { currentBrowser, detectBrowser } from '../../web/browser-info.ts';
import { claimDeviceName, type NameStores } from '../../web/device-name.ts';
import { insecureArrival } from '../../web/insecure-arrival.ts';
import { EXPECTED_SELF } from './test-engine.ts';
import { MeshSession } from '../../web/mesh-session.ts';
import { followPageLifecycle, hiddenGraceMs } from '../../web/page-lifecycle.ts';
import type { App } from '../../web/ui/app.ts';
import type { LinkStatus } from '../../web/ui/controllers.ts';
import { engineLabel } from '../../web/ui/format.ts';
import '../../web/ui/app.ts';
import type { BrowserInfo, CardRecord, DeviceDescription } from '../../shared/registry/schema.ts';
import { waitFor } from '../acceptance/wait.ts';
import { moduleCard, nodeCard, zoneCard } from '../helpers/odrl-cards.ts';
import { button, find, findAll, Fixture, publishSample, textOf } from './ui-helpers.ts';

/** The QR codes the Join view shows ([] before it is there). */
function qrCodes(app: Element): Element[] {
  return findAll(app, 'lm-join-view').flatMap((v) => findAll(v, '.qr svg'));
}

const connected: LinkStatus = { state: 'connected', onState: () => () => {} };
const PIXEL_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';
const IPHONE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';
const FIREFOX_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0';
const CHROME_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const HEADLESS_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';
const desk = { maxTouchPoints: 0, coarsePointer: false, screen: { width: 1920, height: 1080 } };
const phone = { maxTouchPoints: 5, coarsePointer: true, screen: { width: 412, height: 915 } };

/** Map-backed storage, so tests do not touch this origin's real lists. */
function memoryStorage(): Pick<Storage, 'getItem' | 'setItem'> {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v) };
}

/** A device record as an older or another peer would write it. */
function device(id: number, name: string, browser?: BrowserInfo, engine: DeviceDescription['engine'] = 'browser'): DeviceDescription {
  const hex = id.toString(16).padStart(32, '0');
  return {
    id: hex,
    name,
    engine,
    publicKey: hex + hex,
    platform: { cpu: { humanReadableName: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131 Mobile', cores: 8 }, memory: { bytes: 8 * 1024 ** 3 } },
    capabilities: ['wasi_snapshot_preview1.fd_write', 'camera.takeImageStaticSize', 'sensors.acceleration', 'dht.readTemperature'],
    version: '0.1.0',
    startedAt: Date.now() - 60_000,
    ...(browser ? { browser } : {}),
  };
}

beforeEach(() => history.replaceState(null, '', location.pathname + location.search));

describe('Insecure arrival', function () {
  let f: Fixture;
  beforeEach(() => (f = new Fixture()));
  afterEach(async () => {
    delete (navigator as unknown as { onLine?: boolean }).onLine;
    await f.dispose();
  });

  it('says the page was opened insecurely and links the certificate page and the HTTPS page, never “offline”', async () => {
    // What Chromium sees reaching the PWA by a LAN name over http, with no other network.
    Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => false });
    const href = 'http://phone-test.lan:8080/?mesh=home&secret=s&signal=https%3A%2F%2Fphone-test.lan%3A4444&trust=http%3A%2F%2Fphone-test.lan%3A8081%2F';
    const arrival = insecureArrival({ href, secure: false, isolated: false, trust: 'http://phone-test.lan:8081/' });
    const app = await f.mount<App>('lm-app', { mesh: 'home', insecure: arrival });
    await waitFor(() => findAll(app, 'section.insecure').length === 1, 'the insecure-arrival page');
    const text = textOf(app);
    expect(text).to.contain('This page was opened over an insecure connection');
    expect(text).to.not.match(/offline:|You are offline/);
    expect(text).to.not.contain('could not start');
    expect(find<HTMLAnchorElement>(app, 'a.trust').href).to.equal('http://phone-test.lan:8081/');
    expect(find<HTMLAnchorElement>(app, 'a.secure').href).to.equal(href.replace('http:', 'https:'));
    expect(textOf(find(app, 'ol'))).to.match(/First install the mesh's certificate from http:\/\/phone-test\.lan:8081\/ ?\. Then open https:\/\/phone-test\.lan:8080\//);
    expect(findAll(app, '[role=tab]')).to.have.length(0);
  });

  it('names a secure page without cross-origin isolation as such, and refuses a script link as the certificate page', () => {
    expect(insecureArrival({ href: 'https://a.lan/', secure: true, isolated: true, trust: null })).to.equal(null);
    const notIsolated = insecureArrival({ href: 'https://a.lan/', secure: true, isolated: false, trust: 'javascript:alert(1)' });
    expect(notIsolated).to.deep.equal({ reason: 'not-isolated', openedUrl: 'https://a.lan/', secureUrl: '', trustUrl: '' });
  });

  it('names what the browser engine lacks (WebKitGTK without the backbone: WebRTC) instead of starting or claiming to be offline', async () => {
    Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => false });
    const facts = { href: 'https://a.lan/', secure: true, isolated: true, trust: null };
    expect(insecureArrival({ ...facts, sharedMemory: true, webRtc: true })).to.equal(null);
    const arrival = insecureArrival({ ...facts, sharedMemory: false, webRtc: false });
    expect(arrival).to.deep.include({ reason: 'engine', missing: ['WebRTC'] });
    const app = await f.mount<App>('lm-app', { mesh: 'home', insecure: arrival });
    await waitFor(() => findAll(app, 'section.engine').length === 1, 'the engine notice');
    const text = textOf(app);
    expect(text).to.contain('This browser cannot host modules');
    expect(textOf(find(app, '.missing'))).to.equal('WebRTC');
    expect(text).to.not.match(/offline:|You are offline/);
    expect(findAll(app, '[role=tab]')).to.have.length(0);
  });

  it('starts without WebRTC when the page has the NATS backbone, and without SharedArrayBuffer, saying what its modules cannot use', async () => {
    const facts = { href: 'https://a.lan/?nats=wss://leaf.lan:8443', secure: true, isolated: true, trust: null, backbone: true };
    expect(insecureArrival({ ...facts, sharedMemory: true, webRtc: false })).to.equal(null);
    expect(insecureArrival({ ...facts, sharedMemory: false, webRtc: false })).to.equal(null);
    const app = await f.mount<App>('lm-app', { mesh: 'home', noSharedMemory: true });
    await waitFor(() => findAll(app, '.banner.no-shared-memory').length === 1, 'the shared-memory notice');
    expect(textOf(find(app, '.banner.no-shared-memory'))).to.contain('no SharedArrayBuffer').and.to.contain('camera');
    const full = await f.mount<App>('lm-app', { mesh: 'home' });
    await full.updateComplete;
    expect(findAll(full, '.banner.no-shared-memory')).to.have.length(0);
  });

  it('does not claim to be offline while the link has not failed, or when the device could not start', async () => {
    Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => false });
    const connecting: LinkStatus = { state: 'connecting', onState: () => () => {} };
    const starting = await f.mount<App>('lm-app', { mesh: 'home', link: connecting });
    const failed = await f.mount<App>('lm-app', { mesh: 'home', startError: 'the sandbox needs a cross-origin isolated page' });
    await starting.updateComplete;
    await failed.updateComplete;
    expect(findAll(starting, '.banner.offline')).to.have.length(0);
    expect(textOf(starting)).to.not.contain('offline');
    expect(findAll(failed, '.banner.offline')).to.have.length(0);
    expect(textOf(failed)).to.contain('This device could not start');
  });
});

describe('Join view: the certificate step', function () {
  let f: Fixture;
  beforeEach(() => (f = new Fixture()));
  afterEach(async () => f.dispose());

  it('shows the certificate page as a link and a QR code with per-platform steps, before the join QR', async () => {
    const a = await f.peer('desk');
    const trustUrl = 'http://10.99.0.1:8081/';
    const joinUrl = `https://10.99.0.1:8080/?mesh=home&trust=${encodeURIComponent(trustUrl)}`;
    const app = await f.mount<App>('lm-app', { node: a, mesh: 'home', joinUrl, trustUrl, link: connected });
    button(app, 'Join').click();
    await waitFor(() => qrCodes(app).length === 2, 'two QR codes');
    const view = find(app, 'lm-join-view');
    const [first, second] = findAll(view, 'figure.card');
    expect(first!.getAttribute('aria-label')).to.equal("Trust the mesh's certificate");
    expect(second!.getAttribute('aria-label')).to.equal('Join QR code');
    expect(find<HTMLAnchorElement>(first!, 'a.trust-url').href).to.equal(trustUrl);
    expect(find(first!, '.qr').getAttribute('aria-label')).to.equal('QR code of the certificate page');
    const steps = textOf(find(first!, 'ul.trust-steps'));
    for (const platform of ['Android', 'iPhone and iPad', 'Firefox', 'Windows']) expect(steps).to.contain(platform);
    expect(find<HTMLAnchorElement>(second!, 'a.url').textContent).to.equal(joinUrl);
    history.replaceState(null, '', location.pathname + location.search);
  });

  it('shows no certificate step on a loopback page that knows no certificate page', async () => {
    const a = await f.peer('desk');
    const app = await f.mount<App>('lm-app', { node: a, mesh: 'home', joinUrl: 'http://127.0.0.1:8080/?mesh=home', trustUrl: 'javascript:alert(1)', link: connected });
    button(app, 'Join').click();
    await waitFor(() => qrCodes(app).length === 1, 'the join QR code');
    expect(findAll(find(app, 'lm-join-view'), 'figure.trust')).to.have.length(0);
    history.replaceState(null, '', location.pathname + location.search);
  });
});

describe('Engine label', function () {
  let f: Fixture;
  beforeEach(() => (f = new Fixture()));
  afterEach(async () => f.dispose());

  it('tells phones, Firefox, Safari, desktop Chrome and headless Chromium apart', () => {
    const pixel = detectBrowser({ userAgent: PIXEL_UA, userAgentData: { brands: [{ brand: 'Google Chrome', version: '131' }, { brand: 'Chromium', version: '131' }], mobile: true }, ...phone });
    expect(pixel).to.deep.equal({ name: 'Chrome', version: '131', engine: 'Blink', headless: false, formFactor: 'phone', os: 'Android' });
    expect(engineLabel('browser', pixel)).to.equal('Chrome 131 on Android phone');
    const iphone = detectBrowser({ userAgent: IPHONE_UA, ...phone, screen: { width: 390, height: 844 } });
    expect(engineLabel('browser', iphone)).to.equal('Safari 18 on iOS phone');
    expect(iphone.engine).to.equal('WebKit');
    const firefox = detectBrowser({ userAgent: FIREFOX_UA, ...desk });
    expect(engineLabel('browser', firefox)).to.equal('Firefox 153 on Linux');
    expect(firefox.engine).to.equal('Gecko');
    const chrome = detectBrowser({ userAgent: CHROME_UA, userAgentData: { brands: [{ brand: 'Google Chrome', version: '156' }], mobile: false }, ...desk });
    expect(engineLabel('browser', chrome)).to.equal('Chrome 156 on Linux');
    const chromium = detectBrowser({ userAgent: CHROME_UA, userAgentData: { brands: [{ brand: 'Chromium', version: '156' }], mobile: false }, ...desk });
    expect(chromium.name).to.equal('Chromium');
    const headless = detectBrowser({ userAgent: HEADLESS_UA, ...desk });
    expect(engineLabel('chromium', headless)).to.equal('Headless Chromium 156 on Linux');
    const tablet = detectBrowser({ userAgent: PIXEL_UA.replace(' Mobile', ''), ...phone, screen: { width: 800, height: 1280 } });
    expect(tablet.formFactor).to.equal('tablet');
    const webkitGtk = detectBrowser({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15', ...desk });
    expect(webkitGtk).to.include({ name: 'WebKit', engine: 'WebKit', os: 'Linux', formFactor: 'desktop' });
    const macSafari = detectBrowser({ userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15', ...desk });
    expect(engineLabel('browser', macSafari)).to.equal('Safari 18 on macOS');
    // iPadOS asks for desktop pages: only its touch screen gives it away.
    expect(detectBrowser({ userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15', ...phone, screen: { width: 820, height: 1180 } }).formFactor).to.equal('tablet');
    expect(detectBrowser({ userAgent: `${PIXEL_UA} EdgA/131.0.0.0`, ...phone }).name).to.equal('Edge');
    expect(detectBrowser({ userAgent: PIXEL_UA.replace('Chrome/131', 'SamsungBrowser/27.0 Chrome/131'), ...phone }).name).to.equal('Samsung Internet');
    // A record of an older peer has no browser details: the coarse label stays.
    expect(engineLabel('chromium')).to.equal('Headless Chromium');
    expect(engineLabel('browser')).to.equal('Browser');
    expect(engineLabel('node')).to.equal('Node');
  });

  it('shows the label on each device card, this headless test browser included', async () => {
    const a = await f.peer('desk');
    expect(currentBrowser()).to.include(EXPECTED_SELF.info);
    expect(a.peer.registry.devices.get(a.peer.id)!.engine).to.equal(EXPECTED_SELF.deviceEngine);
    const pixel = detectBrowser({ userAgent: PIXEL_UA, userAgentData: { mobile: true }, ...phone });
    a.peer.registry.devices.set(device(1, 'pixel', pixel));
    a.peer.registry.devices.set(device(2, 'old-kiosk', undefined, 'chromium'));
    const app = await f.mount<App>('lm-app', { node: a, mesh: 'home', link: connected });
    await waitFor(() => findAll(app, 'article.device').length === 3, 'three device cards');
    const label = (name: string): string => textOf(find(app, `article[aria-label="Device ${name}"] .engine`));
    expect(label('desk')).to.match(EXPECTED_SELF.label);
    expect(label('pixel')).to.equal('Chrome 131 on Android phone');
    expect(label('old-kiosk')).to.equal('Headless Chromium');
  });
});

describe('Device name and presence of a phone page', function () {
  let f: Fixture;
  const sessions: MeshSession[] = [];
  beforeEach(() => (f = new Fixture()));
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.leave();
    await f.dispose();
  });

  it('keeps one generated name per browser, gives a second tab its own, and hands the first back once let go', async () => {
    const local = memoryStorage();
    const stores = (): NameStores => ({ local, session: memoryStorage(), locks: navigator.locks });
    const first = await claimDeviceName(null, 'phone', stores());
    expect(first.name).to.match(/^phone-[a-z2-9]{4}$/);
    const second = await claimDeviceName(null, 'phone', stores());
    expect(second.name).to.not.equal(first.name);
    first.release();
    const reopened = await claimDeviceName(null, 'phone', stores());
    expect(reopened.name).to.equal(first.name);
    const named = await claimDeviceName('kitchen', 'phone', stores());
    expect(named.name).to.equal('kitchen');
    for (const h of [second, reopened, named]) h.release();
  });

  it('leaves the mesh when hidden or frozen and rejoins with the same device id when shown', async () => {
    const mesh = `lm-phone-${Math.random().toString(36).slice(2, 8)}`;
    const local = memoryStorage();
    const make = (nameParam: string | null): MeshSession => {
      const s = new MeshSession({ nameParam, kind: 'phone', mesh, secret: 's', signal: null, claim: (p, k) => claimDeviceName(p, k, { local, session: memoryStorage(), locks: navigator.locks }) });
      sessions.push(s);
      return s;
    };
    const watcher = make('watcher');
    const phoneSession = make(null);
    await watcher.join();
    await phoneSession.join();
    const id = phoneSession.node!.peer.id;
    await waitFor(() => watcher.node!.peer.alive().includes(id), 'the watcher to see the phone');
    f.extraDbs(`liquidmesh-${mesh}-watcher`, `liquidmesh-${mesh}-${phoneSession.name}`);

    // A stand-in window: the page's lifecycle events, as a phone's browser fires them.
    const page = Object.assign(new EventTarget(), { document: Object.assign(new EventTarget(), { visibilityState: 'visible' as DocumentVisibilityState }) });
    const stop = followPageLifecycle(phoneSession, hiddenGraceMs('phone', false), page);
    const left: string[] = [];
    watcher.node!.peer.on('device-left', (p) => left.push(p));
    page.document.visibilityState = 'hidden';
    page.document.dispatchEvent(new Event('visibilitychange'));
    await waitFor(() => !watcher.node!.peer.alive().includes(id), 'the watcher to see the phone leave');
    expect(left).to.deep.equal([id]);
    await waitFor(() => phoneSession.state === 'away', 'the phone away');

    page.document.visibilityState = 'visible';
    page.document.dispatchEvent(new Event('visibilitychange'));
    await waitFor(() => phoneSession.state === 'joined', 'the phone back');
    expect(phoneSession.node!.peer.id).to.equal(id);
    await waitFor(() => watcher.node!.peer.alive().includes(id), 'the watcher to see the phone again');

    page.document.dispatchEvent(new Event('freeze'));
    await waitFor(() => !watcher.node!.peer.alive().includes(id), 'the watcher to see the frozen phone leave');
    page.document.dispatchEvent(new Event('resume'));
    await waitFor(() => watcher.node!.peer.alive().includes(id), 'the watcher to see the resumed phone');
    expect(phoneSession.node!.peer.id).to.equal(id);
    stop();
  });

  it('a tab that left waits while a newer tab is that device, and takes over when that tab leaves', async () => {
    const mesh = `lm-phone-${Math.random().toString(36).slice(2, 8)}`;
    const local = memoryStorage();
    const make = (): MeshSession => {
      const s = new MeshSession({ nameParam: null, kind: 'phone', mesh, secret: 's', signal: null, claim: (p, k) => claimDeviceName(p, k, { local, session: memoryStorage(), locks: navigator.locks }) });
      sessions.push(s);
      return s;
    };
    const old = make();
    await old.join();
    const id = old.node!.peer.id;
    f.extraDbs(`liquidmesh-${mesh}-${old.name}`);
    await old.leave();
    // The join URL opened again in a new tab: the same device.
    const reopened = make();
    await reopened.join();
    expect(reopened.name).to.equal(old.name);
    expect(reopened.node!.peer.id).to.equal(id);
    // The old tab shown again waits, with a notice, instead of becoming a third device.
    const states: string[] = [];
    old.onChange((s) => states.push(s));
    void old.join();
    await waitFor(() => old.state === 'waiting', 'the old tab to wait');
    // Hidden again while waiting: it stops waiting.
    await old.leave();
    expect(old.state).to.equal('away');
    const rejoined = old.join();
    await waitFor(() => old.state === 'waiting', 'the old tab to wait again');
    const app = await f.mount<App>('lm-app', { mesh, presence: old.state, link: connected });
    expect(textOf(find(app, '.banner.waiting'))).to.contain('This device is active in another tab of this browser');
    await reopened.leave();
    await rejoined;
    expect(old.state).to.equal('joined');
    expect(old.node!.peer.id).to.equal(id);
    expect(states).to.deep.equal(['waiting', 'away', 'waiting', 'joining', 'joined']);
  });

  it('keeps a hidden desktop tab in the mesh for a grace period, and a headless one for good', () => {
    expect(hiddenGraceMs('phone', false)).to.equal(0);
    expect(hiddenGraceMs('tablet', false)).to.equal(0);
    expect(hiddenGraceMs('desktop', false)).to.be.greaterThan(0);
    expect(hiddenGraceMs('desktop', true)).to.equal(null);
    const calls: string[] = [];
    const page = Object.assign(new EventTarget(), { document: Object.assign(new EventTarget(), { visibilityState: 'hidden' as DocumentVisibilityState }) });
    const stop = followPageLifecycle({ join: async () => void calls.push('join'), leave: async () => void calls.push('leave') }, hiddenGraceMs('desktop', false), page);
    page.document.dispatchEvent(new Event('visibilitychange'));
    expect(calls).to.deep.equal([]);
    page.document.visibilityState = 'visible';
    page.document.dispatchEvent(new Event('visibilitychange'));
    page.dispatchEvent(new Event('pagehide'));
    expect(calls).to.deep.equal(['join', 'leave']);
    stop();
  });
});

describe('Every view at 360 px', function () {
  let f: Fixture;
  beforeEach(async () => {
    f = new Fixture();
    await setViewport({ width: 360, height: 740 });
  });
  afterEach(async () => {
    await setViewport({ width: 800, height: 600 });
    history.replaceState(null, '', location.pathname + location.search);
    await f.dispose();
  });

  /** What sticks out past the right edge, to say in a failure. */
  function overflowing(root: Element): string[] {
    const out: string[] = [];
    const visit = (node: Element | ShadowRoot): void => {
      for (const el of Array.from(node.querySelectorAll('*'))) {
        const r = el.getBoundingClientRect();
        if (r.right > innerWidth + 0.5 && r.width > 0) out.push(`${el.tagName.toLowerCase()}.${el.className} (${Math.round(r.right)})`);
        if (el.shadowRoot) visit(el.shadowRoot);
      }
    };
    visit(root.shadowRoot ?? root);
    return out.slice(0, 8);
  }

  async function noSidewaysScroll(app: Element, view: string): Promise<void> {
    await new Promise((r) => requestAnimationFrame(() => r(undefined)));
    expect(innerWidth).to.equal(360);
    expect(document.documentElement.scrollWidth, `the ${view} view scrolls sideways: ${overflowing(app).join(', ')}`).to.be.at.most(innerWidth);
  }

  it('mesh, modules, deployments, run, join and kiosk, with many devices, long names and several deployments', async () => {
    const a = await f.peer('kitchen-counter-raspberry-pi-4-model-b-with-camera-module-v2');
    await publishSample(a, 'fibo');
    await publishSample(a, 'stateful-fibo');
    const pixel = detectBrowser({ userAgent: PIXEL_UA, userAgentData: { mobile: true }, ...phone });
    for (let i = 1; i <= 9; i++) a.peer.registry.devices.set(device(i, `phone-of-someone-with-a-very-long-name-number-${i}-in-the-living-room`, i % 2 ? pixel : undefined));
    const deps = [];
    for (const name of ['fibonacci-for-the-living-room-dashboard-with-a-long-name', 'counter-of-visitors-at-the-front-door-sensor', 'fib']) {
      const d = a.orchestrator.deploy({ name, sequence: [{ module: name === 'fib' ? 'fibo' : 'stateful-fibo', func: name === 'fib' ? 'fibo' : 'stateful_fibo' }] });
      deps.push(d);
    }
    for (const d of deps) await a.orchestrator.waitFor(d.id);
    // Zone cards: every device shows its zone, every deployment its certificate.
    const card = (kind: CardRecord['kind'], id: string, json: Record<string, unknown>): void => a.peer.registry.cards.set({ id, kind, json: JSON.stringify(json), updatedAt: Date.now() });
    card('zones', 'zones', zoneCard());
    for (const dv of a.peer.registry.devices.values()) card('node', `node:${dv.id}`, nodeCard(dv.id, 'unsafe'));
    card('module', `module:${a.orchestrator.packages.resolve('fibo').id}`, moduleCard(a.orchestrator.packages.resolve('fibo').id, 'high', 'temp', 'low'));
    const joinUrl = 'https://10.99.0.1:8080/?mesh=home&secret=a-rather-long-mesh-secret-value&signal=https%3A%2F%2F10.99.0.1%3A4444&trust=http%3A%2F%2F10.99.0.1%3A8081%2F';
    const app = await f.mount<App>('lm-app', { node: a, mesh: 'home-mesh-with-a-long-name', joinUrl, trustUrl: 'http://10.99.0.1:8081/', link: connected });
    await waitFor(() => findAll(app, 'article.device').length === 10 && findAll(app, '.badge.zone').length === 10, 'ten device cards with their zones');
    await noSidewaysScroll(app, 'mesh');

    button(app, 'Modules').click();
    await waitFor(() => findAll(app, 'article.module-card').length === 2, 'two modules');
    await noSidewaysScroll(app, 'modules');

    button(app, 'Deployments').click();
    await waitFor(() => findAll(app, 'article.deployment').length === 3 && findAll(app, 'details.certificate').length === 3, 'three deployments with their certificates');
    for (const d of findAll<HTMLDetailsElement>(app, 'details.certificate')) d.open = true;
    await noSidewaysScroll(app, 'deployments');

    button(app, `Run ${deps[0]!.name}`).click();
    await waitFor(() => findAll(app, 'button.run').length === 1, 'the run view');
    find<HTMLButtonElement>(app, 'button.run').click();
    await waitFor(() => findAll(app, '.result table.steps').length === 1, 'a result');
    await noSidewaysScroll(app, 'run');

    button(app, 'Join').click();
    await waitFor(() => qrCodes(app).length === 2, 'the QR codes');
    await noSidewaysScroll(app, 'join');

    app.remove();
    const kiosk = await f.mount<App>('lm-app', { node: a, mesh: 'home', kiosk: true, link: connected });
    await waitFor(() => findAll(find(kiosk, 'lm-kiosk-view'), '.name').length === 1, 'the kiosk view');
    await noSidewaysScroll(kiosk, 'kiosk');
  });
});
