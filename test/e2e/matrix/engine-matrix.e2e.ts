// The engine matrix: {Chromium, Firefox, WebKit, Node} × {join, host a module, call, chain
// across engines, migrate in, migrate out, reopen offline}, one test per cell, on one mesh
// that every row shares (one browser per engine). Chromium, Firefox and the Node peer link
// over WebRTC; WebKitGTK has no WebRTC and joins through the site's NATS WebSocket listener
// (a real nats-server), which every peer also uses. WebKit runs twice: with JavaScriptCore's
// SharedArrayBuffer on, as Safari has it (ADR 0024), and as Debian ships it, without
// (`webkit-nosab`: its sandbox's host calls go through the PWA's service worker, ADR 0039).
// A stateful counter moves Node → Firefox → WebKit → WebKit without SharedArrayBuffer →
// Chromium → Node and keeps counting. Firefox gathers ICE candidates only on a default route's
// interface, so this file runs in a namespace with a link (test/netns.mjs with
// LIQUIDMESH_NETNS_LINK=1; vitest.matrix.config.ts), and the signaling server listens on
// the link's address so that the Node peer's WebRTC is not held to loopback.
import { expect } from 'chai';
import { buildPwa, startWebServer, type WebServer } from '../../../node-host/web-server.ts';
import { startSignalServer, type SignalServer } from '../../../node-host/signal/signal-server.ts';
import { requireLoopbackNamespace } from '../../acceptance/netns.ts';
import { waitFor } from '../../acceptance/wait.ts';
import { type NatsCluster, startNatsCluster } from '../../helpers/nats-server.ts';
import { LINK_ADDRESS } from '../../netns.mjs';
import { type Engine, launchMatrixPeer, type MatrixPeer, publishSamples } from '../engines/matrix-peers.ts';

requireLoopbackNamespace();
if (process.env.LIQUIDMESH_NETNS_LINK !== '1') throw new Error('the engine matrix needs a namespace with a link: node test/run.mjs matrix');

/** The rows, in the order the counter visits them (and back to Node). */
const ENGINES: Engine[] = ['node', 'firefox', 'webkit', 'webkit-nosab', 'chromium'];
const NAMES: Record<Engine, string> = { node: 'node-1', firefox: 'firefox-1', webkit: 'webkit-1', 'webkit-nosab': 'webkit-nosab-1', chromium: 'chromium-1' };
/** How each engine's device describes itself: its `engine` field and its browser's engine (web/browser-info.ts). */
const DESCRIBED: Record<Engine, { engine: string; browser: string }> = {
  node: { engine: 'node', browser: '' },
  firefox: { engine: 'browser', browser: 'Gecko' },
  webkit: { engine: 'browser', browser: 'WebKit' },
  'webkit-nosab': { engine: 'browser', browser: 'WebKit' },
  chromium: { engine: 'chromium', browser: 'Blink' },
};

/** fibo(n) as modules/fibo computes it (fibo(12) = 233). */
function fibo(n: number): number {
  let [a, b] = [0, 1];
  for (let i = 0; i < n; i++) [a, b] = [b, a + b];
  return b;
}

const next = (e: Engine): Engine => ENGINES[(ENGINES.indexOf(e) + 1) % ENGINES.length]!;

describe('Every engine joins, hosts, calls, chains, migrates and reopens offline', () => {
  const peers = {} as Record<Engine, MatrixPeer>;
  const fib = {} as Record<Engine, string>;
  const chain = {} as Record<Engine, string>;
  let signal: SignalServer | undefined;
  let web: WebServer | undefined;
  let nats: NatsCluster | undefined;
  let counter = '';
  let count = 0;

  beforeAll(async () => {
    await buildPwa();
    const token = 'matrix-token';
    [signal, web, nats] = await Promise.all([startSignalServer({ host: LINK_ADDRESS }), startWebServer(), startNatsCluster({ auth: { token }, websocket: true })]);
    const site = { pwaUrl: web.url, signalUrl: signal.url, natsUrl: nats.urls[0]!, natsWsUrl: nats.servers[0]!.wsUrl!, natsToken: token, mesh: 'matrix', secret: 'matrix-secret' };
    // One at a time: five engines starting together overload a two-core machine.
    for (const engine of ENGINES) peers[engine] = await launchMatrixPeer(engine, NAMES[engine], site);
  });

  afterAll(async () => {
    for (const peer of Object.values(peers)) await peer.close().catch((e: unknown) => console.warn(`closing ${peer.name}:`, e));
    await web?.close();
    await signal?.close();
    await nats?.stop();
  });

  describe('join', () => {
    for (const engine of ENGINES) {
      it(`${engine}: sees every other engine alive, is seen alive by each, and names its engine`, async () => {
        const me = peers[engine];
        const others = ENGINES.filter((e) => e !== engine).map((e) => peers[e]);
        await waitFor(async () => {
          const mine = await me.view();
          if (!others.every((o) => mine.alive.includes(o.id))) return false;
          return (await Promise.all(others.map((o) => o.view()))).every((v) => v.alive.includes(me.id));
        }, `${engine} and every other engine to see each other alive`, 90_000);
        // As another engine's page sees it in the registry.
        const seen = (await peers[engine === 'chromium' ? 'firefox' : 'chromium'].view()).devices.find((d) => d.id === me.id);
        expect(seen?.name).to.equal(NAMES[engine]);
        expect({ engine: seen?.engine, browser: seen?.browser }).to.deep.equal(DESCRIBED[engine]);
        expect(await me.sharedMemory(), 'SharedArrayBuffer in the page').to.equal(engine !== 'webkit-nosab');
      });
    }
  });

  describe('host a module', () => {
    beforeAll(async () => {
      await publishSamples(peers.node, ['fibo', 'stateful-fibo', 'host-demo']);
    });
    for (const engine of ENGINES) {
      it(`${engine}: deploys fibo onto itself through its own orchestrator and runs it`, async () => {
        const me = peers[engine];
        // The modules were published on the Node peer: wait until this registry has them.
        fib[engine] = await me.deploy({ name: `fib-${engine}`, sequence: [{ module: 'fibo', func: 'fibo', device: NAMES[engine] }] });
        const solution = await me.ready(fib[engine]);
        expect(solution['0']).to.equal(me.id);
        await waitFor(async () => (await me.hosted()).includes(fib[engine]), `${engine}'s own supervisor to run fib-${engine}`, 30_000);
      });
    }
    it('webkit-nosab: runs a module whose import the page answers (dht.getTemperature), through the service worker instead of shared memory', async () => {
      const me = peers['webkit-nosab'];
      // The owner switches its sensors on; the Node peer places the step once it sees the offer.
      await me.offer('dht.*');
      let temperature = '';
      let attempt = 0;
      await waitFor(async () => {
        try {
          temperature = await peers.node.deploy({ name: `temperature-webkit-nosab-${attempt++}`, sequence: [{ module: 'host-demo', func: 'temperature', device: NAMES['webkit-nosab'] }] });
          return (await peers.node.ready(temperature))['0'] === me.id;
        } catch {
          return false;
        }
      }, 'the Node peer to place host-demo on webkit-nosab', 60_000);
      const out = await peers.node.execute(temperature, []);
      expect(out.steps.map((s) => s.peer)).to.deep.equal([me.id]);
      // The browser peer's simulated DHT sensor reads a room temperature.
      expect(out.value).to.be.a('number').within(-40, 60);
    });
  });

  describe('call', () => {
    for (const engine of ENGINES) {
      it(`${engine}: answers a call from another engine and calls a module another engine hosts`, async () => {
        const me = peers[engine];
        const caller = peers[next(engine)];
        await caller.ready(fib[engine]);
        const inbound = await caller.execute(fib[engine], [12]);
        expect(inbound.value).to.equal(233);
        expect(inbound.steps.map((s) => s.peer)).to.deep.equal([me.id]);
        const target = next(engine);
        await me.ready(fib[target]);
        const outbound = await me.execute(fib[target], [10]);
        expect(outbound.value).to.equal(fibo(10));
        expect(outbound.steps.map((s) => s.peer)).to.deep.equal([peers[target].id]);
      });
    }
  });

  describe('chain across engines', () => {
    for (const engine of ENGINES) {
      it(`${engine}: runs a chain whose first step is on it and second on ${next(engine)}`, async () => {
        const me = peers[engine];
        chain[engine] = await me.deploy({ name: `chain-${engine}`, sequence: [{ module: 'fibo', func: 'fibo', device: NAMES[engine] }, { module: 'fibo', func: 'fibo', device: NAMES[next(engine)] }] });
        await me.ready(chain[engine]);
        const out = await me.execute(chain[engine], [4]);
        expect(out.steps.map((s) => s.peer)).to.deep.equal([me.id, peers[next(engine)].id]);
        expect(out.steps[0]!.value).to.equal(fibo(4));
        expect(out.value).to.equal(fibo(fibo(4)));
      });
    }
  });

  describe('migrate: a counter moves Node → Firefox → WebKit → WebKit without SharedArrayBuffer → Chromium → Node', () => {
    beforeAll(async () => {
      counter = await peers.node.deploy({ name: 'counter', sequence: [{ module: 'stateful-fibo', func: 'stateful_fibo', device: NAMES.node }] });
      await peers.node.ready(counter);
      for (const expected of [1, 2, 3]) expect(await peers.node.call(counter, 'stateful-fibo', 'stateful_fibo')).to.equal(expected);
      count = 3;
    });
    /** The counter's next answer: stateful_fibo counts 1, 2, 3, 5, 8, … */
    const following = (): number => {
      const after = count <= 2 ? count + 1 : [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610].find((v) => v > count)!;
      count = after;
      return after;
    };
    for (const engine of ENGINES) {
      const to = next(engine);
      it(`${engine}: migrate out — moves the counter to ${to} and the count goes on`, async () => {
        const me = peers[engine];
        expect(await me.hosted()).to.include(counter);
        const moved = await me.migrate(counter, 'stateful-fibo', NAMES[to]);
        expect([moved.from, moved.to]).to.deep.equal([me.id, peers[to].id]);
        expect(await me.hosted()).to.not.include(counter);
        // Called from the engine it left: the call now crosses to the new host.
        await waitFor(async () => (await me.ready(counter))['0'] === peers[to].id, `${engine} to see the counter on ${to}`, 30_000);
        expect(await me.call(counter, 'stateful-fibo', 'stateful_fibo')).to.equal(following());
      });
      it(`${to}: migrate in — hosts the counter it received and continues its count`, async () => {
        const me = peers[to];
        expect(await me.hosted()).to.include(counter);
        expect(await me.call(counter, 'stateful-fibo', 'stateful_fibo')).to.equal(following());
      });
    }
  });

  describe('reopen offline', () => {
    beforeAll(async () => {
      for (const peer of Object.values(peers)) await peer.saved();
      // The whole site goes away: PWA server, signaling server and NATS.
      await web?.close();
      await signal?.close();
      await nats?.stop();
      web = undefined;
      signal = undefined;
      nats = undefined;
    });
    for (const engine of ENGINES) {
      it(`${engine}: reopens with no server reachable as the same device with the registry it saved`, async () => {
        const me = peers[engine];
        await me.reopen();
        // A page comes back from its service worker, still cross-origin isolated.
        if (engine !== 'node') expect(await me.offlineFacts()).to.deep.equal({ isolated: true, controlled: true });
        const view = await me.view();
        expect(view.devices.map((d) => d.name).sort()).to.deep.equal(Object.values(NAMES).sort());
        expect(view.alive).to.deep.equal([]);
        // Its own deployment is known, placed on itself, from what it saved.
        expect((await me.ready(fib[engine]))['0']).to.equal(me.id);
      });
    }
  });
});
