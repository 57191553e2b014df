// Firefox ESR joins a Node peer, and headless Chromium, over WebRTC with a user's default preferences: its host
// candidates are mDNS names the Node peer cannot resolve, and the link still forms (Firefox
// checks the Node peer's real addresses; the Node side learns Firefox's as peer-reflexive).
// Both who offers and who answers, and the largest message the transport takes each way.
// Firefox gathers candidates only on the default route's interface, so each run is a
// namespace with a link of its own (test/netns.mjs, LIQUIDMESH_NETNS_LINK=1); ADR 0024.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';

requireLoopbackNamespace();

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Seen {
  joined: string[];
  received: number[];
  error?: string;
}
interface LinkReport {
  maxMessageSize: number;
  node: Seen;
  page: Seen;
  pageId: string;
  nodeId: string;
}

/** Run firefox-link.ts in a namespace with a link; its JSON report. */
function runLink(dial: 'node' | 'firefox' | 'chromium'): Promise<LinkReport> {
  const env: Record<string, string | undefined> = { ...process.env, LIQUIDMESH_NETNS_LINK: '1' };
  delete env.LIQUIDMESH_NETNS;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['test/netns.mjs', process.execPath, '--import', 'tsx', 'test/e2e/engines/firefox-link.ts', dial], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{"dial"'));
      if (code !== 0 || !line) reject(new Error(`firefox-link.ts ${dial} exited with ${code}:\n${out}`));
      else resolve(JSON.parse(line) as LinkReport);
    });
  });
}

describe('Firefox and a Node peer over WebRTC', () => {
  for (const dial of ['node', 'firefox'] as const) {
    it(`join and carry the largest message each way when ${dial === 'node' ? 'the Node peer' : 'Firefox'} offers`, async () => {
      const r = await runLink(dial);
      expect(r.page.error ?? '').to.equal('');
      expect(r.node.joined).to.deep.equal([r.pageId]);
      expect(r.page.joined).to.deep.equal([r.nodeId]);
      expect(r.node.received).to.deep.equal([r.maxMessageSize]);
      expect(r.page.received).to.deep.equal([r.maxMessageSize]);
    });
  }
});

describe('Firefox and Chromium over WebRTC', () => {
  it('join and carry the largest message each way (Chromium offers)', async () => {
    const r = await runLink('chromium');
    expect(r.page.error ?? '').to.equal('');
    expect(r.node.joined).to.deep.equal([r.pageId]);
    expect(r.page.joined).to.deep.equal([r.nodeId]);
    expect(r.node.received).to.deep.equal([r.maxMessageSize]);
    expect(r.page.received).to.deep.equal([r.maxMessageSize]);
  });
});
