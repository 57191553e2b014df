// When a link counts as dead: adaptive to its own rhythm, and never because this process stalled.
import { expect } from 'chai';
import { type KeepaliveAction, LinkChecks, LinkKeepalive, LinkSilence } from '../../shared/adapters/link-liveness.ts';
import { everyAligned } from '../../shared/ports/clock.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';

const options = { heartbeatMs: 250, restMs: 1000, floorMs: 1000, ceilingMs: 5000 };

describe('LinkSilence', () => {
  it('declares a quick link dead after the floor of silence, not before', () => {
    const s = new LinkSilence(0, options);
    for (let t = 250; t <= 5000; t += 250) s.heard(t);
    expect(s.expired(5000 + 1000)).to.equal(false);
    expect(s.expired(5000 + 1001)).to.equal(true);
  });

  it('gives a link whose frames come far apart (a throttled tab) three of its gaps', () => {
    const s = new LinkSilence(0, options);
    for (let t = 1000; t <= 10_000; t += 1000) s.heard(t);
    expect(s.expired(10_000 + 2900)).to.equal(false);
    expect(s.expired(10_000 + 3001)).to.equal(true);
  });

  it('believes one late keepalive at once, and a burst of data does not shrink that at once', () => {
    const s = new LinkSilence(0, options);
    s.heard(250);
    s.heard(950); // one keepalive 700 ms late: timeout 2.1 s from now on
    for (let t = 951; t < 1000; t++) s.heard(t); // then a burst of data
    expect(s.expired(999 + 1500)).to.equal(false);
  });

  it('never waits longer than the ceiling', () => {
    const s = new LinkSilence(0, options);
    s.heard(60_000);
    expect(s.expired(60_000 + 5001)).to.equal(true);
  });

  it('does not count a stall of this process as the link\'s silence', () => {
    const s = new LinkSilence(0, options);
    for (let t = 250; t <= 2000; t += 250) s.heard(t);
    // This process froze from 2100 to 3600; the frames sent meanwhile are still queued.
    s.forgive(1500);
    expect(s.expired(3600)).to.equal(false);
  });

  it('judges a suspect link (its peer left the signaling server) on two of its gaps after the probe, until it is heard again', () => {
    const s = new LinkSilence(0, options);
    for (let t = 250; t <= 2000; t += 250) s.heard(t, false);
    s.suspect(2100);
    expect(s.suspected).to.equal(true);
    expect(s.expired(2100 + 500)).to.equal(false);
    expect(s.expired(2100 + 501)).to.equal(true);
    // A living peer that only lost the server answers: the floor is back.
    s.heard(2400, false);
    expect(s.suspected).to.equal(false);
    expect(s.expired(2400 + 900)).to.equal(false);
  });

  it('gives a suspect link whose frames come far apart (a throttled tab) two of its gaps, and never more than the usual timeout', () => {
    const s = new LinkSilence(0, options);
    for (let t = 1000; t <= 10_000; t += 1000) s.heard(t, false);
    s.suspect(10_000);
    expect(s.expired(10_000 + 1900)).to.equal(false);
    expect(s.expired(10_000 + 2001)).to.equal(true);
    const slow = new LinkSilence(0, { ...options, ceilingMs: 1500, floorMs: 1500 });
    slow.heard(4000);
    slow.suspect(4000);
    expect(slow.timeoutMs).to.equal(1500);
  });

  it('allows a remote at rest its longer keepalive period on top of the floor, so a stall of its main thread has the same margin', () => {
    const s = new LinkSilence(0, { ...options, floorMs: 2500 });
    for (let t = 250; t <= 5000; t += 250) s.heard(t, false);
    expect(s.timeoutMs).to.equal(2500);
    // It settles: rest pings about a second apart.
    for (let t = 5750; t <= 20_000; t += 900) s.heard(t, true);
    expect(s.atRest).to.equal(true);
    // The floor plus what the longest gap at rest (1.25 periods: pings keep to slots of
    // shared time) adds to a quick heartbeat.
    expect(s.timeoutMs).to.equal(2500 + 1000);
    const last = 5750 + Math.floor((20_000 - 5750) / 900) * 900;
    expect(s.expired(last + 3500)).to.equal(false);
    expect(s.expired(last + 3501)).to.equal(true);
  });

  it('does not learn the gaps a remote leaves at rest as its usual gap: a probe after a will is still judged on the quick rhythm', () => {
    const s = new LinkSilence(0, options);
    for (let t = 250; t <= 5000; t += 250) s.heard(t, false);
    for (let t = 5900; t <= 30_000; t += 900) s.heard(t, true);
    s.heard(30_100); // a data frame at rest leaves the remote at rest
    expect(s.atRest).to.equal(true);
    s.suspect(30_500);
    expect(s.expired(30_500 + 500)).to.equal(false);
    expect(s.expired(30_500 + 501)).to.equal(true);
    // A quick ping (the answer to a probe) ends the rest.
    const t = new LinkSilence(0, options);
    t.heard(900, true);
    t.heard(1000, false);
    expect(t.atRest).to.equal(false);
  });

  it('does not count a stall of this process against a suspect link\'s probe', () => {
    const s = new LinkSilence(0, options);
    for (let t = 250; t <= 2000; t += 250) s.heard(t, false);
    s.suspect(2000);
    s.forgive(1500); // frozen from 2100 to 3600: the answer waits behind our timer
    expect(s.expired(3600)).to.equal(false);
  });
});

describe('LinkChecks', () => {
  const rhythm = { quickMs: 125, restMs: 500, phase: 0 };

  /** Checks on a manual clock, with the links' rest decided by the test; the instants of the checks and the stalls reported. */
  function schedule<C extends ManualClock | LateClock>(clock: C): { clock: C; at: number[]; stalls: number[]; rest: { now: boolean }; checks: LinkChecks } {
    const at: number[] = [];
    const stalls: number[] = [];
    const rest = { now: false };
    const checks = new LinkChecks(clock, rhythm, (stalled) => {
      at.push(clock.now());
      stalls.push(stalled);
    }, () => rest.now);
    return { clock, at, stalls, rest, checks };
  }

  it('checks every quick period while a link needs it, every rest period once all rest, and quickly again at once when quickened', () => {
    const { clock, at, rest, checks } = schedule(new ManualClock(0));
    clock.advance(500);
    expect(at).to.deep.equal([125, 250, 375, 500]);
    rest.now = true;
    clock.advance(1000);
    // The check at 625 (scheduled quick) is the first to see every link at rest: the next ones fall on multiples of 500.
    expect(at.slice(4)).to.deep.equal([625, 1000, 1500]);
    expect(checks.periodMs).to.equal(500);
    // A link needs attention at 1560 (a probe arrived, say): checked at the next quick instant, not at 2000.
    clock.advance(60);
    rest.now = false;
    checks.quicken();
    clock.advance(315);
    expect(at.slice(7)).to.deep.equal([1625, 1750, 1875]);
    checks.stop();
    clock.advance(1000);
    expect(at).to.have.length(10);
  });

  it('goes on checking after a check that threw', () => {
    const clock = new ManualClock(0);
    const at: number[] = [];
    const checks = new LinkChecks(clock, rhythm, () => {
      at.push(clock.now());
      if (at.length === 1) throw new Error('a link check failed');
    }, () => false);
    expect(() => clock.advance(125)).to.throw('a link check failed');
    clock.advance(250);
    expect(at).to.deep.equal([125, 250, 375]);
    checks.stop();
  });

  it('reports a check that fires late by more than half a quick period as a stall of that length, and nothing for jitter', () => {
    const clock = new LateClock();
    const { at, stalls } = schedule(clock);
    clock.fireAt(125);
    clock.fireAt(250 + 50); // 50 ms late: jitter
    clock.fireAt(375 + 900); // the process was stalled for 900 ms
    clock.fireAt(1375);
    expect(at).to.deep.equal([125, 300, 1275, 1375]);
    expect(stalls).to.deep.equal([0, 0, 900, 0]);
  });
});

/** A clock whose one pending timer fires when the test says, however late. */
class LateClock {
  #now = 0;
  #timer: (() => void) | null = null;

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void): object {
    this.#timer = fn;
    return {};
  }

  clearTimeout(): void {
    this.#timer = null;
  }

  /** Move to `t` and fire the pending timer there. */
  fireAt(t: number): void {
    this.#now = t;
    const fn = this.#timer;
    this.#timer = null;
    fn?.();
  }
}

describe('LinkKeepalive', () => {
  const keep = { heartbeatMs: 250, restMs: 1000, settleMs: 5000 };

  /** A link whose keepalives are decided on a fake clock, checked as the transport checks (twice a quick period). */
  function watch(phase = 0, clock = new ManualClock()): { clock: ManualClock; link: LinkKeepalive; sent: { at: number; action: Exclude<KeepaliveAction, null> }[]; stop: () => void } {
    const link = new LinkKeepalive(clock.now(), { ...keep, phase });
    const sent: { at: number; action: Exclude<KeepaliveAction, null> }[] = [];
    const stop = everyAligned(clock, keep.heartbeatMs / 2, phase, () => {
      const action = link.due(clock.now());
      if (action === null) return;
      sent.push({ at: clock.now(), action });
      link.sent(clock.now());
    });
    return { clock, link, sent, stop };
  }

  it('pings a young link four times a second, then once a second with rest pings once it settled', () => {
    const { clock, link, sent, stop } = watch();
    link.joined(0);
    clock.advance(5000);
    const young = sent.filter((s) => s.at < 5000);
    expect(young.every((s) => s.action === 'ping')).to.equal(true);
    // Quick: never more than a period between two pings.
    for (let i = 1; i < young.length; i++) expect(young[i]!.at - young[i - 1]!.at).to.be.at.most(keep.heartbeatMs);
    clock.advance(20_000);
    stop();
    const rest = sent.filter((s) => s.at >= 5000);
    expect(rest.every((s) => s.action === 'rest-ping')).to.equal(true);
    // About one a second: at most a period between two, far fewer than the quick ones.
    expect(rest.length).to.be.within(20, 27);
    for (let i = 1; i < rest.length; i++) expect(rest[i]!.at - rest[i - 1]!.at).to.be.at.most(keep.restMs);
  });

  it('pings at rest at the start of each period of shared time, one a period', () => {
    const { clock, link, sent, stop } = watch();
    link.joined(0);
    clock.advance(25_000);
    stop();
    const rest = sent.filter((s) => s.at >= 5000);
    expect(rest.map((s) => s.at)).to.deep.equal(Array.from({ length: 21 }, (_, i) => 5000 + i * keep.restMs));
  });

  it('pings every link of every peer at rest in the same instants, whenever the link joined and whenever its process started', () => {
    // Shared (wall) time runs on `wall`; a process that started 300 ms after it counts from
    // there (its clock reads wall − 300, its phase is 300); links join at odd moments.
    const wall = new ManualClock();
    const a = watch(0, wall);
    wall.advance(300);
    const late = new ManualClock();
    const b = watch(300, late);
    a.link.joined(wall.now());
    b.link.joined(late.now() + 77);
    for (let t = 0; t < 20_000; t += 25) {
      wall.advance(25);
      late.advance(25);
    }
    a.stop();
    b.stop();
    const restA = a.sent.filter((s) => s.action === 'rest-ping').map((s) => s.at);
    const restB = b.sent.filter((s) => s.action === 'rest-ping').map((s) => s.at + 300);
    expect(restA.length).to.be.at.least(12);
    expect(restA.every((t) => t % keep.restMs === 0)).to.equal(true);
    expect(restB.slice(-10)).to.deep.equal(restA.slice(-10));
  });

  it('spends no ping on a slot a frame just used, and leaves at most a period and a quarter between frames at rest', () => {
    const { clock, link, sent, stop } = watch();
    link.joined(0);
    clock.advance(10_000);
    // A data frame 0.8 of a period into a slot: the next slot's start needs no ping.
    clock.advance(800);
    link.sent(clock.now());
    const after = sent.length;
    clock.advance(3000);
    stop();
    const next = sent.slice(after).map((s) => s.at);
    expect(next[0]).to.equal(12_000);
    expect(next[0]! - 10_800).to.be.at.most(1.25 * keep.restMs);
  });

  it('sends no keepalive on a link that carries data, young or settled', () => {
    const { clock, link, sent, stop } = watch();
    link.joined(0);
    for (let t = 0; t < 20_000; t += 100) {
      clock.advance(100);
      link.sent(clock.now());
    }
    stop();
    expect(sent).to.deep.equal([]);
  });

  it('answers a probe at its next check with a quick ping, and keeps quick pings while it settles again', () => {
    const { clock, link, sent, stop } = watch();
    clock.advance(10_000);
    const before = sent.length;
    link.probed(clock.now() + 10);
    clock.advance(keep.heartbeatMs / 2);
    expect(sent[before]).to.deep.equal({ at: 10_000 + keep.heartbeatMs / 2, action: 'ping' });
    clock.advance(4000);
    expect(sent.slice(before).every((s) => s.action === 'ping')).to.equal(true);
    clock.advance(5000);
    stop();
    expect(sent.at(-1)!.action).to.equal('rest-ping');
  });

  it('answers a probe once, at the check that comes after it (nothing leaves while no check runs)', () => {
    const clock = new ManualClock();
    const link = new LinkKeepalive(clock.now(), keep);
    link.probed(0);
    // Nothing checks the link: no timer of this process runs, so nothing leaves.
    expect(link.quick(0)).to.equal(true);
    expect(link.due(0)).to.equal('ping');
    expect(link.due(0)).to.equal(null);
  });
});
