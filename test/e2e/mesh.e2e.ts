// The real mesh, end to end: a signaling server, a PWA tab, two headless Chromium peers
// and a Node peer join one mesh over WebRTC on loopback; every pair calls each other; a
// 10 MB blob crosses from Node to a browser; a killed peer is seen leaving, restarts and
// catches up; a peer with the wrong mesh secret sees nothing.
import { expect } from 'chai';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { BrowserPeer, type MeshView, NodePeerProcess, useE2eServices } from './harness.ts';

requireLoopbackNamespace();

describe('The mesh over WebRTC', () => {
  const e2e = useE2eServices('e2e-timings.json');
  const { browsers, nodes, timings } = e2e;
  const mesh = 'e2e';
  const secret = 'e2e-secret';

  it('joins four peers on three engines, calls between every pair, moves a blob, survives a crash and keeps outsiders out', async () => {
    const params = { signal: e2e.signal.url, mesh, secret };
    const t0 = Date.now();
    const node = new NodePeerProcess('node-1', ['--signal', e2e.signal.url, '--mesh', mesh, '--secret', secret]);
    nodes.push(node);
    const profile = await mkdtemp(join(tmpdir(), 'lm-e2e-chromium-2-'));
    // Chromium writes into its profile until it closes: the folder goes once the browsers
    // on it are closed, whether the test passed or not.
    const onProfile: BrowserPeer[] = [];
    onTestFinished(async () => {
      await Promise.all(onProfile.map((b) => b.close().catch(() => undefined)));
      await rm(profile, { recursive: true, force: true });
    });
    const [tab, c1, c2] = await Promise.all([
      BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'pwa-tab', params }),
      BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'chromium-1', params }),
      BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'chromium-2', params, profileDir: profile }),
      node.ready(),
    ]);
    browsers.push(tab!, c1!, c2!);
    onProfile.push(c2!);
    const views = (): Promise<MeshView[]> => Promise.all([tab!.view(), c1!.view(), c2!.view(), node.view()]);

    // Everyone sees all four devices, alive.
    await waitFor(async () => (await views()).every((v) => v.devices.length === 4 && v.alive.length === 3), 'every peer to see all four devices alive', 60_000);
    timings.allFourSeenMs = Date.now() - t0;
    try {
      await waitFor(async () => (await views()).every((v) => v.linked.length === 3), 'a direct link between every pair', 60_000);
    } catch (error) {
      // Which pair is missing and what each side believes, beside the peers' own lines.
      if (process.env.LIQUIDMESH_TEST_PEER_LOGS) appendFileSync(process.env.LIQUIDMESH_TEST_PEER_LOGS, `views when the links were still missing: ${JSON.stringify(await views())}\n`);
      throw error;
    }
    timings.allLinkedMs = Date.now() - t0;
    const all = await views();
    const ids = all.map((v) => v.id);
    expect(new Set(all[0]!.devices.map((d) => d.engine))).to.deep.equal(new Set(['chromium', 'node']));

    // RPC between every pair.
    for (const [i, b] of [tab!, c1!, c2!].entries()) {
      for (const to of ids) {
        if (to === ids[i]) continue;
        const answered = await b.run(async (lm, target) => (await lm.peer.call(target as string, 'peer.ping', { sentAt: 1 })).peer, to);
        expect(answered).to.equal(to);
      }
    }
    for (const to of ids.slice(0, 3)) expect((await node.command<{ ms: number }>('ping', { to })).ms).to.be.a('number');

    // 10 MB from the Node peer to the PWA tab, verified.
    const { hash } = await node.command<{ hash: string }>('put', { size: 10 * 1024 * 1024 });
    const t1 = Date.now();
    const fetched = await tab!.run(async (lm, h) => {
      const bytes = await lm.peer.fetchBlob(h as string);
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
      return { size: bytes.byteLength, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') };
    }, hash);
    timings.blob10MbMs = Date.now() - t1;
    expect(fetched).to.deep.equal({ size: 10 * 1024 * 1024, sha256: hash });

    // Kill chromium-2's browser: the others see it leave.
    const c2id = ids[2]!;
    const t2 = Date.now();
    c2!.kill();
    browsers.splice(browsers.indexOf(c2!), 1);
    await waitFor(async () => (await Promise.all([tab!.view(), c1!.view(), node.view()])).every((v) => !v.alive.includes(c2id)), 'the others to see chromium-2 leave', 30_000);
    timings.killSeenMs = Date.now() - t2;

    // While it is away the mesh moves on; restarted on its profile it is the same peer and catches up.
    await node.command('write', { deployment: 'while-you-were-away' });
    const back = await BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'chromium-2', params, profileDir: profile });
    browsers.push(back);
    onProfile.push(back);
    const backView = await back.view();
    expect(backView.id).to.equal(c2id);
    await waitFor(async () => back.run((lm) => lm.peer.registry.deployments.keys().includes('while-you-were-away')), 'the restarted peer to catch up', 30_000);
    await waitFor(async () => (await tab!.view()).alive.includes(c2id), 'the others to see it back', 30_000);

    // A peer with the wrong secret finds no one, and no one sees it.
    const outsider = await BrowserPeer.launch({ pwaUrl: e2e.web.url, name: 'outsider', params: { ...params, secret: 'wrong' } });
    browsers.push(outsider);
    await new Promise((r) => setTimeout(r, 4000));
    const outsiderView = await outsider.view();
    expect(outsiderView.devices.map((d) => d.name)).to.deep.equal(['outsider']);
    expect((await tab!.view()).devices.map((d) => d.name)).to.not.include('outsider');
  });
});
