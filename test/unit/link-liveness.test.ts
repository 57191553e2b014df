// When a link counts as dead: adaptive to its own rhythm, and never because this process stalled.
import { expect } from 'chai';
import { type LinkAction, LinkKeeper, LinkSilence, StallMeter } from '../../shared/adapters/link-liveness.ts';
import { every } from '../../shared/ports/clock.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';

const options = { heartbeatMs: 250, floorMs: 1000, ceilingMs: 5000 };

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

});

describe('StallMeter', () => {
  it('reports the lateness of a check beyond half a period as a stall, and nothing for ordinary jitter', () => {
    const m = new StallMeter(0, 125);
    expect(m.check(125)).to.equal(0);
    expect(m.check(300)).to.equal(0); // 50 ms late: jitter
    expect(m.check(300 + 125 + 900)).to.equal(900);
    expect(m.check(1325 + 125)).to.equal(0);
  });

  it('measures lateness against an earlier check asked for (a probe\'s deadline)', () => {
    const m = new StallMeter(0, 300);
    m.expect(100);
    expect(m.check(120)).to.equal(0);
    m.expect(200);
    expect(m.check(200 + 700)).to.equal(700);
  });
});

describe('LinkKeeper', () => {
  // The defaults of the WebRTC transport: a 2.5 s floor, keepalives at a third of it.
  const keep = { floorMs: 2500, ceilingMs: 5000, heartbeatMs: 2500 / 3, checkMs: 277, probeMs: 500 };

  /** A link checked on a fake clock as the transport checks it; what it asked for, and when. */
  function watch(): { clock: ManualClock; keeper: LinkKeeper; actions: { at: number; action: Exclude<LinkAction, null> }[]; stop: () => void } {
    const clock = new ManualClock();
    const keeper = new LinkKeeper(clock.now(), keep);
    const actions: { at: number; action: Exclude<LinkAction, null> }[] = [];
    let closed = false;
    const stop = every(clock, keep.checkMs, () => {
      if (closed) return;
      const action = keeper.due(clock.now());
      if (action) actions.push({ at: clock.now(), action });
      if (action === 'close') closed = true;
    });
    return { clock, keeper, actions, stop };
  }

  it('sends no keepalive on a link that carries data', () => {
    const { clock, keeper, actions, stop } = watch();
    for (let t = 0; t < 20_000; t += 100) {
      clock.advance(100);
      keeper.sent(clock.now());
      keeper.heard(clock.now());
    }
    stop();
    expect(actions).to.deep.equal([]);
  });

  it('sends an idle link a keepalive about once a period, so the remote never waits longer than a period', () => {
    const { clock, keeper, actions, stop } = watch();
    for (let t = 0; t < 20_000; t += 500) {
      clock.advance(500);
      keeper.heard(clock.now());
    }
    stop();
    const pings = actions.filter((a) => a.action === 'ping').map((a) => a.at);
    expect(actions.every((a) => a.action === 'ping')).to.equal(true);
    // About one a period: far fewer than the four a second sent before.
    expect(pings.length).to.be.within(20_000 / keep.heartbeatMs - 2, 20_000 / (keep.heartbeatMs - keep.checkMs) + 1);
    for (let i = 1; i < pings.length; i++) expect(pings[i]! - pings[i - 1]!).to.be.at.most(keep.heartbeatMs);
  });

  it('probes a link that falls silent once, after a period and a half, and closes it only after the floor', () => {
    const { clock, actions, stop } = watch();
    clock.advance(10_000);
    stop();
    const probes = actions.filter((a) => a.action === 'probe');
    expect(probes).to.have.length(1);
    expect(probes[0]!.at).to.be.within(1.5 * keep.heartbeatMs, 1.5 * keep.heartbeatMs + keep.checkMs);
    const close = actions.find((a) => a.action === 'close');
    expect(close?.at).to.be.within(keep.floorMs + 1, keep.floorMs + keep.checkMs + 1);
    // Keepalives go on until then: the remote, if alive, must not time us out meanwhile.
    expect(actions.filter((a) => a.action === 'ping').length).to.be.at.least(2);
  });

  it('after a departure hint, closes a link whose probe goes unanswered for probeMs — long before the floor', () => {
    const { clock, keeper, actions, stop } = watch();
    clock.advance(400);
    keeper.heard(clock.now());
    expect(keeper.hint(clock.now())).to.equal(true);
    keeper.probed(clock.now());
    expect(keeper.deadline).to.equal(400 + keep.probeMs + 1);
    clock.advance(keep.probeMs);
    expect(keeper.due(clock.now())).to.not.equal('close');
    clock.advance(1);
    expect(keeper.due(clock.now())).to.equal('close');
    stop();
    expect(actions.some((a) => a.action === 'close')).to.equal(false);
  });

  it('keeps a link whose remote answers the probe after a hint (it lost only the signaling server)', () => {
    const { clock, keeper, actions, stop } = watch();
    clock.advance(400);
    keeper.hint(clock.now());
    keeper.probed(clock.now());
    clock.advance(30);
    keeper.heard(clock.now());
    expect(keeper.suspected).to.equal(false);
    expect(keeper.deadline).to.equal(undefined);
    for (let t = 0; t < 5000; t += 600) {
      clock.advance(600);
      keeper.heard(clock.now());
    }
    stop();
    expect(actions.filter((a) => a.action !== 'ping')).to.deep.equal([]);
  });

  it('does not count a stall of this process against a probe\'s answer', () => {
    const clock = new ManualClock();
    const keeper = new LinkKeeper(clock.now(), keep);
    clock.advance(100);
    keeper.hint(clock.now());
    keeper.probed(clock.now());
    clock.advance(1200); // frozen here; the answer waits behind our timer
    keeper.forgive(1000);
    expect(keeper.due(clock.now())).to.not.equal('close');
  });

  it('sends one probe, not one per hint, while an answer is awaited', () => {
    const clock = new ManualClock();
    const keeper = new LinkKeeper(clock.now(), keep);
    expect(keeper.hint(clock.now())).to.equal(true);
    keeper.probed(clock.now());
    clock.advance(100);
    expect(keeper.hint(clock.now())).to.equal(false);
  });
});
