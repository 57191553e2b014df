/**
 * What the browser running a suite is, for the few assertions about the test browser's
 * own identity (the suites run in Chromium, Firefox and WebKit: test/engines/). Read from
 * the user agent here, independently of web/browser-info.ts, which these assertions check.
 */

/** The engine the suite runs in. */
export const TEST_ENGINE: 'chromium' | 'firefox' | 'webkit' = /Firefox\//.test(navigator.userAgent) ? 'firefox' : /Chrome\//.test(navigator.userAgent) ? 'chromium' : 'webkit';

/** What this test browser must call itself: its BrowserInfo fields, device engine and label. */
export const EXPECTED_SELF = {
  chromium: { info: { name: 'Chromium', headless: true, engine: 'Blink' }, deviceEngine: 'chromium', label: /^Headless Chromium \d+ on Linux$/ },
  firefox: { info: { name: 'Firefox', headless: false, engine: 'Gecko' }, deviceEngine: 'browser', label: /^Firefox \d+ on Linux$/ },
  webkit: { info: { name: 'WebKit', headless: false, engine: 'WebKit' }, deviceEngine: 'browser', label: /^WebKit \d+ on Linux$/ },
}[TEST_ENGINE];
