// The browser engines the browser suites run in, one launcher each, all from Debian's
// packages (nothing is downloaded): Chromium and Firefox ESR through puppeteer-core,
// WebKitGTK through WebKitWebDriver (webkit-launcher.mjs).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
import { webkitLauncher } from './webkit-launcher.mjs';

/** Where Debian installs Firefox ESR (override with FIREFOX_PATH). */
export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

/**
 * Firefox test profile: only what a test browser needs that a user's does not — no
 * camera prompt (the page gets Firefox's fake camera, as Chromium's tests get its own).
 * No ICE preference is changed: Firefox gathers candidates as it does for a user, so its
 * runs need the network link test/netns.mjs adds with LIQUIDMESH_NETNS_LINK=1.
 */
export const FIREFOX_PREFS = {
  'media.navigator.permission.disabled': true,
  'media.navigator.streams.fake': true,
};

/**
 * The launcher for `engine`: 'chromium', 'firefox', 'webkit' (WebKitGTK as Debian ships
 * it) or 'webkit-sab' (the same with JavaScriptCore's SharedArrayBuffer turned on, as
 * Safari has it: the closest this machine comes to Safari's sandbox).
 */
export async function engineLauncher(engine, { CHROMIUM_PATH, CHROMIUM_FLAGS, chromeLauncher }) {
  switch (engine) {
    case 'chromium':
      return chromeLauncher({ launchOptions: { executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS } });
    case 'firefox': {
      // A profile of our own, removed when the run ends: the one puppeteer makes itself
      // outlives web-test-runner's shutdown.
      const profile = mkdtempSync(join(tmpdir(), 'liquidmesh-firefox-'));
      process.once('exit', () => rmSync(profile, { recursive: true, force: true }));
      return chromeLauncher({ puppeteer, launchOptions: { browser: 'firefox', executablePath: FIREFOX_PATH, headless: true, extraPrefsFirefox: FIREFOX_PREFS, userDataDir: profile } });
    }
    case 'webkit':
      return webkitLauncher({ sharedArrayBuffer: process.env.LIQUIDMESH_WEBKIT_SAB === '1' });
    case 'webkit-sab':
      return webkitLauncher({ sharedArrayBuffer: true });
    default:
      throw new Error(`unknown engine ${engine}: chromium, firefox, webkit or webkit-sab`);
  }
}
