// The app shell in real Chromium: tabs by click and arrow keys, the join QR code, the
// kiosk dashboard, and reopening with the signaling server unreachable and the browser
// offline — the last known registry (from IndexedDB) with an offline notice.
import { expect } from 'chai';
import { WebRtcTransport } from '../../shared/adapters/webrtc-transport.ts';
import { startBrowserPeer } from '../../web/browser-peer.ts';
import { ResilientTransport } from '../../shared/adapters/resilient-transport.ts';
import type { App } from '../../web/ui/app.ts';
import type { LinkStatus } from '../../web/ui/controllers.ts';
import '../../web/ui/app.ts';
import { waitFor } from '../acceptance/wait.ts';
import { button, find, findAll, Fixture, publishSample, textOf } from './ui-helpers.ts';

const connected: LinkStatus = { state: 'connected', onState: () => () => {} };

describe('App shell', function () {
  let f: Fixture;
  beforeEach(() => {
    f = new Fixture();
  });
  afterEach(async () => {
    delete (navigator as unknown as { onLine?: boolean }).onLine;
    await f.dispose();
  });

  it('switches views by tab and arrow keys and shows the join URL as a QR code', async () => {
    const a = await f.peer('desk');
    const joinUrl = 'http://127.0.0.1:8080/?mesh=demo&signal=http%3A%2F%2F127.0.0.1%3A4444';
    const app = await f.mount<App>('lm-app', { node: a, mesh: 'demo', joinUrl, link: connected });
    await waitFor(() => textOf(app).includes('mesh “demo” as desk'), 'the header');
    const tabs = findAll<HTMLButtonElement>(app, '[role=tab]');
    expect(tabs.map((t) => t.textContent)).to.deep.equal(['Mesh', 'Modules', 'Deployments', 'Run', 'Join']);
    expect(findAll(app, 'lm-mesh-view')).to.have.length(1);
    expect(textOf(app)).to.not.contain('offline');

    tabs[1]!.click();
    await app.updateComplete;
    expect(findAll(app, 'lm-modules-view')).to.have.length(1);
    expect(location.hash).to.equal('#modules');
    find(app, 'nav').dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }));
    await app.updateComplete;
    expect(find(app, '[role=tab][aria-selected=true]').textContent).to.equal('Deployments');

    button(app, 'Join').click();
    await waitFor(() => findAll(app, '.qr svg').length === 1, 'the QR code');
    expect(find(app, 'a.url').textContent).to.equal(joinUrl);
    expect(textOf(find(app, 'table.sensors'))).to.contain('camera');
    history.replaceState(null, '', location.pathname + location.search);
  });

  it('shows the kiosk dashboard of the device with the calls it served', async () => {
    const a = await f.peer('pi-kitchen');
    await publishSample(a, 'fibo');
    const dep = a.orchestrator.deploy({ name: 'fib', sequence: [{ module: 'fibo', func: 'fibo' }] });
    await a.orchestrator.waitFor(dep.id);
    const app = await f.mount<App>('lm-app', { node: a, mesh: 'home', kiosk: true, link: connected });
    await waitFor(() => findAll(app, 'lm-kiosk-view').length === 1, 'the kiosk view');
    const kiosk = find(app, 'lm-kiosk-view');
    await waitFor(() => findAll(kiosk, '.name').length === 1, 'the device name');
    expect(findAll(app, '[role=tablist]')).to.have.length(0);
    expect(find(kiosk, '.name').textContent).to.equal('pi-kitchen');
    expect(textOf(app)).to.contain('Modules here').and.contain('fibo');
    expect((await a.orchestrator.execute(dep.id, { args: [10] })).result.value).to.equal(89);
    await waitFor(() => textOf(app).includes('fibo.fibo'), 'the call in the recent calls');
    expect(textOf(app)).to.contain('89');
  });

  it('reopens offline with the last known registry and says so', async () => {
    const dbName = `lm-ui-offline-${Math.random().toString(36).slice(2, 8)}`;
    const first = await f.peer('phone', { dbName });
    await publishSample(first, 'fibo');
    await waitFor(() => first.registrySaved(), 'the registry saved');
    await first.stop();

    // Nothing listens on port 9: the signaling server is unreachable, as when offline.
    const link = new ResilientTransport(new WebRtcTransport({ signalUrl: 'http://127.0.0.1:9', mesh: 'm', secret: 's' }), { retryMs: 200 });
    const again = await startBrowserPeer({ name: 'phone', transports: [link], dbName, camera: false });
    f.peers.push(again);
    expect(again.peer.id).to.equal(first.peer.id);
    await waitFor(() => link.state === 'unreachable', 'the signaling server reported unreachable');
    Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => false });
    const app = await f.mount<App>('lm-app', { node: again, mesh: 'm', link, savedAt: again.registrySavedAt() });
    await waitFor(() => findAll(app, '.offline').length === 1, 'the offline notice');
    expect(textOf(find(app, '.offline'))).to.match(/You are offline: showing the last known registry \(saved .+\)/);
    button(app, 'Modules').click();
    await waitFor(() => findAll(app, 'article.module-card').length === 1, 'fibo from the saved registry');
    expect(textOf(find(app, 'article.module-card'))).to.contain('fibo');

    Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => true });
    dispatchEvent(new Event('online'));
    await waitFor(() => findAll(app, '.banner.unreachable').length === 1 && findAll(app, '.offline').length === 0, 'the signaling notice instead');
    expect(textOf(find(app, '.banner.unreachable'))).to.contain('The signaling server cannot be reached');
  });
});
