// WebKitGTK (Debian's MiniBrowser) opening the PWA that `liquidmesh start` serves: the page
// is secure and cross-origin isolated, but this engine is built without SharedArrayBuffer
// (its sandbox then runs without shared memory) and without WebRTC. Without the NATS
// backbone it must say that WebRTC is missing and start nothing, never claim the device is
// offline (what it showed before). ADR 0024.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { launchWebKit, type WebKitBrowser } from './engines/webkit-driver.ts';
import { CLI, HostProcess } from './hosts.ts';

requireLoopbackNamespace();

interface Seen {
  isolated: boolean;
  sab: string;
  rtc: string;
  text: string;
  joined: boolean;
}

describe('WebKitGTK opening the PWA', () => {
  it('without the NATS backbone names WebRTC as missing (not SharedArrayBuffer, which it runs without), starts nothing and never says offline', async () => {
    const data = await mkdtemp(join(tmpdir(), 'liquidmesh-webkit-data-'));
    const start = new HostProcess(spawn(process.execPath, [CLI, 'start', '--no-chromium', '--signal-port', '0', '--web-port', '0', '--gateway-port', '0', '--secret', 'webkit', '--data-dir', data], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let browser: WebKitBrowser | null = null;
    try {
      const url = (await start.waitForOutput(/PWA — open to join as a device: +(\S+)/, 'the join URL', 200_000))[1]!;
      browser = await launchWebKit();
      await browser.open(url);
      let seen: Seen | null = null;
      await waitFor(async () => {
        seen = await browser!.evaluate<Seen>(`
          const app = document.querySelector('lm-app');
          const root = app && app.shadowRoot;
          const view = root && root.querySelector('lm-insecure-view');
          const text = [root, view && view.shadowRoot].filter(Boolean).map((r) => r.textContent).join(' ').replace(/\\s+/g, ' ');
          return { isolated: crossOriginIsolated, sab: typeof SharedArrayBuffer, rtc: typeof RTCPeerConnection, text, joined: Boolean(window.liquidmeshSession) };`);
        return seen.text.includes('cannot host modules');
      }, 'the engine notice', 30_000);
      const s = seen as unknown as Seen;
      expect(s.isolated).to.equal(true);
      expect(s.sab).to.equal('undefined');
      expect(s.rtc).to.equal('undefined');
      expect(s.text).to.contain('lacks WebRTC');
      expect(s.text).to.not.contain('SharedArrayBuffer');
      expect(s.text).to.not.match(/offline/i);
      expect(s.joined).to.equal(false);
    } finally {
      await browser?.close();
      await start.stop();
      await rm(data, { recursive: true, force: true });
    }
  });
});
