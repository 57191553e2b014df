/**
 * Which browser a page runs in, told honestly: the name and major version, the rendering
 * engine, headless or not, the operating system, and phone, tablet or desktop. Read from
 * what the page can see — User-Agent Client Hints where the browser has them (Chromium),
 * else the User-Agent string, plus the pointer and screen size for the form factor. A
 * pure function of those inputs ({@link detectBrowser}) so any combination can be tested
 * in one browser; {@link currentBrowser} reads them from this page.
 */
import type { BrowserInfo, Engine, FormFactor } from '../shared/registry/schema.ts';

/** What {@link detectBrowser} reads; every field is what the page itself exposes. */
export interface BrowserSignals {
  userAgent: string;
  /** `navigator.userAgentData` (Chromium), when present. */
  userAgentData?: { brands?: readonly { brand: string; version: string }[]; mobile?: boolean; platform?: string } | undefined;
  /** `navigator.maxTouchPoints`. */
  maxTouchPoints: number;
  /** `matchMedia('(pointer: coarse)').matches`: the main pointer is a finger. */
  coarsePointer: boolean;
  /** Screen size in CSS pixels (either orientation). */
  screen: { width: number; height: number };
}

const TABLET_MIN_SIDE = 600;
const DESKTOP_MIN_SIDE = 1024;

function firstMatch(ua: string, rules: readonly [RegExp, string][]): { name: string; version: string } | null {
  for (const [re, name] of rules) {
    const m = re.exec(ua);
    if (m) return { name, version: m[1] ?? '' };
  }
  return null;
}

function osOf(ua: string, hinted: string | undefined): string {
  if (/iPhone|iPad|iPod/.test(ua)) return 'iOS';
  if (/Android/.test(ua)) return 'Android';
  if (/CrOS/.test(ua)) return 'ChromeOS';
  if (/Windows/.test(ua)) return 'Windows';
  if (/Macintosh|Mac OS X/.test(ua)) return 'macOS';
  if (/Linux|X11/.test(ua)) return 'Linux';
  return hinted ?? '';
}

function formFactorOf(s: BrowserSignals, os: string): FormFactor {
  const ua = s.userAgent;
  if (/iPad/.test(ua) || (os === 'Android' && !/Mobile/.test(ua) && s.userAgentData?.mobile !== true)) return 'tablet';
  // iPadOS asks for desktop pages with a Mac user agent; only its touch screen tells.
  if (os === 'macOS' && s.maxTouchPoints > 1) return 'tablet';
  if (s.userAgentData?.mobile === true || /iPhone|iPod|Mobi/.test(ua)) return 'phone';
  if (s.coarsePointer && s.maxTouchPoints > 0) {
    const side = Math.min(s.screen.width, s.screen.height);
    if (side < TABLET_MIN_SIDE) return 'phone';
    if (side < DESKTOP_MIN_SIDE) return 'tablet';
  }
  return 'desktop';
}

/** The browser described by `signals`. */
export function detectBrowser(signals: BrowserSignals): BrowserInfo {
  const ua = signals.userAgent;
  const brands = (signals.userAgentData?.brands ?? []).map((b) => b.brand);
  const headless = /HeadlessChrome/.test(ua) || brands.includes('HeadlessChrome');
  const os = osOf(ua, signals.userAgentData?.platform);
  // On iOS every browser is WebKit whatever its name; elsewhere the name implies the engine.
  const found =
    firstMatch(ua, [
      [/EdgiOS\/(\d+)/, 'Edge'],
      [/CriOS\/(\d+)/, 'Chrome'],
      [/FxiOS\/(\d+)/, 'Firefox'],
      [/Edg(?:e|A)?\/(\d+)/, 'Edge'],
      [/SamsungBrowser\/(\d+)/, 'Samsung Internet'],
      [/OPR\/(\d+)/, 'Opera'],
      [/Firefox\/(\d+)/, 'Firefox'],
      [/HeadlessChrome\/(\d+)/, 'Chromium'],
      [/Chrome\/(\d+)/, 'Chrome'],
      [/Version\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari\//, os === 'macOS' || os === 'iOS' ? 'Safari' : 'WebKit'],
      [/AppleWebKit\/(\d+)/, 'WebKit'],
    ]) ?? { name: 'Browser', version: '' };
  let name = found.name;
  // Chromium builds (Debian's, headless ones) say "Chrome" in the string; the brands tell.
  if (name === 'Chrome' && brands.length > 0 && !brands.includes('Google Chrome')) name = 'Chromium';
  if (headless) name = 'Chromium';
  const engine = os === 'iOS' || name === 'Safari' || name === 'WebKit' ? 'WebKit' : name === 'Firefox' ? 'Gecko' : name === 'Browser' ? '' : 'Blink';
  const info: BrowserInfo = { name, version: found.version, engine, headless, formFactor: formFactorOf(signals, os) };
  if (os) info.os = os;
  return info;
}

/** The device's `engine` field: `chromium` stays what it always meant, a headless Chromium peer. */
export function engineOf(info: BrowserInfo): Engine {
  return info.headless && info.engine === 'Blink' ? 'chromium' : 'browser';
}

/** This page's browser. */
export function currentBrowser(): BrowserInfo {
  const nav = navigator as Navigator & { userAgentData?: BrowserSignals['userAgentData'] };
  return detectBrowser({
    userAgent: nav.userAgent,
    userAgentData: nav.userAgentData,
    maxTouchPoints: nav.maxTouchPoints ?? 0,
    coarsePointer: typeof matchMedia === 'function' && matchMedia('(pointer: coarse)').matches,
    screen: { width: screen.width, height: screen.height },
  });
}
