/**
 * Headless Chromium peers: Debian's Chromium driven by puppeteer-core, each in a browser
 * of its own (a fresh or given profile directory), loading the PWA under a name. Used by
 * `liquidmesh peer --engine chromium`, `liquidmesh start` and the end-to-end tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import type { CapabilityPolicy } from '../../shared/trust/capability-policy.ts';

/** Roles a launched page joins with: the mesh's owners and an invitation token (`keys invite`'s text form). */
export interface LaunchRoles {
  mesh: string;
  owners: string[];
  invitation?: string;
}
import { trustCaInNss } from '../tls/nss.ts';

/** Flags verified headless on these machines; loopback WebRTC needs the last ones. */
export const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

/**
 * Flags of a headless peer that cut the browser's idle memory by about a third (measured
 * in test/bench/footprint-chromium.ts): no zygote processes (allowed without the sandbox,
 * which the peer already runs without), the GPU thread inside the browser process (there
 * is no GPU to isolate), and no spare renderer kept warm for tabs a peer never opens.
 * Not used on a kiosk's screen, where the GPU process does real drawing.
 */
export const CHROMIUM_LEAN_FLAGS = ['--no-zygote', '--in-process-gpu', '--disable-features=SpareRendererForSitePerProcess'];

/** Where Debian installs Chromium (override with CHROMIUM_PATH). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A running headless peer. */
export interface ChromiumPeer {
  name: string;
  browser: Browser;
  page: Page;
  /** The browser's process id (kill it to simulate a crash). */
  pid: number | undefined;
  /** Profile directory (IndexedDB lives here: reuse it to restart the same peer). */
  profileDir: string;
  /** Close the browser; removes the profile unless it was given. */
  close(): Promise<void>;
}

/** Launch Chromium and open `pwaUrl` as peer `name` (extra query parameters in `params`). */
export async function launchChromiumPeer(options: {
  pwaUrl: string;
  name: string;
  params?: Record<string, string>;
  profileDir?: string;
  kiosk?: boolean;
  /** A CA certificate (PEM) this browser trusts, e.g. the host's local CA for an HTTPS PWA. */
  trustCa?: string;
  /** Headless with {@link CHROMIUM_LEAN_FLAGS} (default true; false: Chromium's own process model). */
  lean?: boolean;
  /**
   * The device owner's capability policy (from `--offer`/`--policy`): who runs this command
   * owns the device, so it is handed to the page by the launcher, never through the URL.
   */
  policy?: CapabilityPolicy;
  /**
   * Roles (ADR 0025): the mesh's owner keys and an invitation token to redeem, handed to
   * the page before its scripts run (web/mesh-roles.ts), never through a URL.
   */
  roles?: LaunchRoles;
}): Promise<ChromiumPeer> {
  const profileDir = options.profileDir ?? (await mkdtemp(join(tmpdir(), `liquidmesh-chromium-${options.name}-`)));
  // Chromium reads trusted CAs from $HOME/.pki/nssdb: a HOME of this profile's own holds its trust.
  const home = join(profileDir, 'home');
  if (options.trustCa !== undefined) await trustCaInNss(home, options.trustCa);
  // A kiosk is shown full screen where there is a display (a Pi's desktop session), with
  // the device's real camera; without a display it still runs, headless, as a device.
  const onScreen = options.kiosk === true && Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
  const flags = onScreen ? CHROMIUM_FLAGS.filter((f) => !f.startsWith('--headless') && f !== '--use-fake-device-for-media-stream') : [...CHROMIUM_FLAGS, ...(options.lean === false ? [] : CHROMIUM_LEAN_FLAGS)];
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM_PATH,
    headless: !onScreen,
    // The caller closes the browser (in a finally); puppeteer's own signal handlers would
    // race it and end the process before the rest of the cleanup ran.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    ...(options.trustCa !== undefined ? { env: { ...process.env, HOME: home } } : {}),
    // DevTools over a pipe, not a port: when this process dies (even by kill -9) the pipe
    // closes and the browser exits with it, releasing its profile for the next start and
    // removing its temporary files, instead of living on as an orphan holding the profile.
    pipe: true,
    args: [...flags, `--user-data-dir=${profileDir}`, ...(onScreen ? ['--kiosk', '--noerrdialogs', '--disable-infobars'] : [])],
  });
  try {
    // The tab the browser opened with: a second page would cost a renderer process of its own.
    const page = (await browser.pages())[0] ?? (await browser.newPage());
    const url = new URL(options.pwaUrl);
    url.searchParams.set('name', options.name);
    for (const [k, v] of Object.entries(options.params ?? {})) url.searchParams.set(k, v);
    if (options.kiosk) url.searchParams.set('kiosk', '');
    if (options.policy) {
      // Before any of the page's scripts run, on every load of this tab (reloads included).
      // The page reads it in web/owner-policy.ts (launcherPolicy).
      await page.evaluateOnNewDocument((text: string) => {
        (globalThis as { __liquidmeshOwnerPolicy?: string }).__liquidmeshOwnerPolicy = text;
      }, JSON.stringify(options.policy));
    }
    if (options.roles) {
      await page.evaluateOnNewDocument((text: string) => {
        (globalThis as { __liquidmeshRoles?: string }).__liquidmeshRoles = text;
      }, JSON.stringify(options.roles));
    }
    // Tests that read what the peers said (LIQUIDMESH_TEST_PEER_LOGS) get the page's debug
    // lines too, the same file as the Node peers' (LIQUIDMESH_BROWSER_DEBUG narrows them).
    const logFile = process.env.LIQUIDMESH_TEST_PEER_LOGS;
    if (logFile) {
      const { appendFileSync } = await import('node:fs');
      await page.evaluateOnNewDocument((d: string) => (globalThis as { localStorage?: { setItem(key: string, value: string): void } }).localStorage?.setItem('debug', d), process.env.LIQUIDMESH_BROWSER_DEBUG ?? 'liquidmesh:*');
      page.on('console', (m) => appendFileSync(logFile, `[${options.name} ${Date.now() % 1_000_000}] ${m.text()}\n`));
    }
    await loadThroughNetworkChanges(page, url.toString());
    return {
      name: options.name,
      browser,
      page,
      pid: browser.process()?.pid,
      profileDir,
      async close() {
        await browser.close().catch(() => browser.process()?.kill('SIGKILL'));
        if (!options.profileDir) await rm(profileDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

/** Loads that Chromium gave up because the host's network changed under them, before the launch fails. */
const NETWORK_CHANGE_RETRIES = 3;

/**
 * Load `url`, again when Chromium aborts the load with net::ERR_NETWORK_CHANGED: it does so
 * when an interface or address comes or goes while the page loads — a kiosk booting while
 * its network comes up (an address appearing after DHCP, an IPv6 link-local address after
 * its duplicate check), a host whose interfaces were set up a moment before. The network
 * is there; the load only has to be asked again.
 */
async function loadThroughNetworkChanges(page: Page, url: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      // A page on two cores loaded by several browsers and builds has taken over 30 s to load.
      await page.goto(url, { waitUntil: 'load', timeout: 90_000 });
      return;
    } catch (error) {
      if (attempt >= NETWORK_CHANGE_RETRIES || !String((error as Error).message).includes('net::ERR_NETWORK_CHANGED')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
