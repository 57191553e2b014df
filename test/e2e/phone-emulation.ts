/**
 * A phone as Chromium's device emulation makes one — a 360×740 touch screen, a phone's
 * user agent and User-Agent Client Hints — and small readers of the PWA as the phone shows
 * it, shared by the phone end-to-end tests (loopback and across hosts).
 */
import { mkdirSync } from 'node:fs';
import { expect } from 'chai';
import type { ElementHandle, Page } from 'puppeteer-core';
import { waitFor } from '../acceptance/wait.ts';

/** The emulated phone. */
export const PHONE = {
  viewport: { width: 360, height: 740, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  metadata: { brands: [{ brand: 'Google Chrome', version: '131' }, { brand: 'Chromium', version: '131' }], fullVersion: '131.0.0.0', platform: 'Android', platformVersion: '14', architecture: '', model: 'Pixel 8', mobile: true },
};

/** Where the phone views' screenshots go. */
export const SHOTS = '.tmp/screenshots';

/**
 * Make `page` a phone (before it loads the app): its screen and user agent, and motion and
 * orientation sensors that report a phone lying on a table (Chromium's sensor overrides,
 * what DevTools' Sensors panel uses), so the phone has readings to offer.
 */
export async function emulatePhone(page: Page): Promise<void> {
  await page.setViewport(PHONE.viewport);
  await page.setUserAgent({ userAgent: PHONE.userAgent, userAgentMetadata: PHONE.metadata });
  const cdp = await page.createCDPSession();
  const readings = { accelerometer: { x: 0.1, y: 0.2, z: 9.8 }, 'linear-acceleration': { x: 0, y: 0, z: 0 }, gyroscope: { x: 0, y: 0, z: 0 } };
  for (const [type, xyz] of Object.entries(readings)) {
    await cdp.send('Emulation.setSensorOverrideEnabled', { enabled: true, type: type as 'accelerometer' });
    await cdp.send('Emulation.setSensorOverrideReadings', { type: type as 'accelerometer', reading: { xyz } });
  }
  await cdp.send('DeviceOrientation.setDeviceOrientationOverride', { alpha: 10, beta: 20, gamma: 30 });
}

/** An element inside the app's shadow roots, looked for until it is there. */
export async function el(page: Page, selector: string, timeoutMs = 20_000): Promise<ElementHandle<Element>> {
  let found: ElementHandle<Element> | null = null;
  await waitFor(async () => (found = await page.$(`lm-app >>> ${selector}`)) !== null, selector, timeoutMs);
  return found!;
}

/** Text of the first match inside the app ('' when there is none). */
export async function text(page: Page, selector: string): Promise<string> {
  const found = await page.$(`lm-app >>> ${selector}`);
  return found ? ((await found.evaluate((e) => (e as HTMLElement).innerText ?? e.textContent)) ?? '') : '';
}

/** Wait until the match's text contains `expected`. */
export async function waitText(page: Page, selector: string, expected: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => (await text(page, selector)).includes(expected), `“${expected}” in ${selector}`, timeoutMs);
}

/** Open a tab of the app. */
export async function tab(page: Page, view: string): Promise<void> {
  await (await el(page, `#tab-${view}`)).click();
  await el(page, `lm-${view}-view`);
}

/** Screenshot the view as `phone-<name>.png` and fail if the page scrolls sideways at the phone's width. */
export async function shot(page: Page, name: string): Promise<void> {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(undefined))));
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/phone-${name}.png`, fullPage: true });
  const seen = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth }));
  expect(seen.width, 'the phone viewport').to.equal(360);
  expect(seen.scrollWidth, `the ${name} view scrolls sideways`).to.be.at.most(seen.width);
}

/** The id of the page's running peer, or null while it has none. */
export function idOf(page: Page): Promise<string | null> {
  return page.evaluate(() => {
    const lm = (globalThis as unknown as { liquidmesh?: { peer: { running: boolean; id: string } } }).liquidmesh;
    return lm?.peer.running ? lm.peer.id : null;
  });
}

/** Pretend the user switched away from (`hidden`) or back to (`visible`) the page. */
export function setVisibility(page: Page, state: 'hidden' | 'visible'): Promise<void> {
  return page.evaluate((s) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => s });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => s === 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
}
