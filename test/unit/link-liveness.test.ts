// When a link counts as dead: adaptive to its own rhythm, and never because this process stalled.
import { expect } from 'chai';
import { LinkSilence, StallMeter } from '../../shared/adapters/link-liveness.ts';

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

  it('judges a suspect link (its peer left the signaling server) on two of its gaps, until it is heard again', () => {
    const s = new LinkSilence(0, options);
    for (let t = 250; t <= 2000; t += 250) s.heard(t);
    s.suspect();
    expect(s.expired(2000 + 500)).to.equal(false);
    expect(s.expired(2000 + 501)).to.equal(true);
    // A living peer that only lost the server speaks again: the floor is back.
    s.heard(2400);
    expect(s.suspected).to.equal(false);
    expect(s.expired(2400 + 900)).to.equal(false);
  });

  it('gives a suspect link whose frames come far apart (a throttled tab) two of its gaps, and never more than the usual timeout', () => {
    const s = new LinkSilence(0, options);
    for (let t = 1000; t <= 10_000; t += 1000) s.heard(t);
    s.suspect();
    expect(s.expired(10_000 + 1900)).to.equal(false);
    expect(s.expired(10_000 + 2001)).to.equal(true);
    const slow = new LinkSilence(0, { ...options, ceilingMs: 1500, floorMs: 1500 });
    slow.heard(4000);
    slow.suspect();
    expect(slow.timeoutMs).to.equal(1500);
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
});
