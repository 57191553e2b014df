// Device records across versions: a record without browser details (an older peer's)
// still validates, a record with them validates, and a record whose browser details are
// malformed is refused with the field named, so it is skipped rather than trusted.
import { describe, expect, it } from 'vitest';
import { checkDevice, type DeviceDescription } from '../../shared/registry/schema.ts';

const base: DeviceDescription = {
  id: '0'.repeat(31) + '1',
  name: 'pixel',
  engine: 'browser',
  publicKey: 'ab'.repeat(32),
  platform: { cpu: { humanReadableName: 'Mozilla/5.0 (Linux; Android 14; Pixel 8)', cores: 8 }, memory: { bytes: 8 * 2 ** 30 } },
  capabilities: ['camera.takeImageStaticSize', 'sensors.acceleration'],
  version: '0.1.0',
  startedAt: 1_796_000_000_000,
};

describe('device records', () => {
  it('accept an older peer\'s record without browser details, and a newer one with them', () => {
    expect(checkDevice(base).ok).toBe(true);
    const phone = { ...base, browser: { name: 'Chrome', version: '131', engine: 'Blink', headless: false, formFactor: 'phone', os: 'Android' } };
    expect(checkDevice(phone)).toEqual({ ok: true, value: phone });
    // A record from a peer newer still, with fields this version does not know, is kept too.
    expect(checkDevice({ ...phone, browser: { ...phone.browser, future: 1 } }).ok).toBe(true);
  });

  it('refuse malformed browser details, naming the field', () => {
    const bad = checkDevice({ ...base, browser: { name: 'Chrome', version: '131', engine: 'Blink', headless: 'no', formFactor: 'phone' } });
    expect(bad.ok).toBe(false);
    expect(bad.ok ? '' : bad.error).toContain('.browser.headless');
    const factor = checkDevice({ ...base, browser: { name: 'Chrome', version: '131', engine: 'Blink', headless: false, formFactor: 'watch' } });
    expect(factor.ok ? '' : factor.error).toContain('.browser.formFactor');
    expect(checkDevice({ ...base, browser: { name: 'x'.repeat(51), version: '', engine: '', headless: false, formFactor: 'desktop' } }).ok).toBe(false);
  });
});
