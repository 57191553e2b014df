// Heartbeats in a large mesh of links: past a dozen peers the period grows with the mesh, so
// a peer hears about as many heartbeats per second whatever the mesh's size, and nobody
// times out a peer for beating as slowly as it said. Presences wired to each other
// directly (every state to every peer, as a full flood would deliver it) on a manual clock.
import { expect } from 'chai';
import * as Y from 'yjs';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { MAX_SCALED_TIMEOUT_MS, Presence } from '../../shared/registry/presence.ts';
import { collectLogs } from '../helpers/mesh.ts';

const HEARTBEAT_MS = 1000;
const TIMEOUT_MS = 5000;

interface Crowd {
  clock: ManualClock;
  presences: Presence[];
  /** Heartbeats (renewals of an unchanged state) each peer sent. */
  beats: number[];
  /** Every state each peer sent, renewals and changes. */
  sent: number[];
  /** Updates each peer received. */
  heard: number[];
  /** Peers whose messages no longer go anywhere (fallen silent). */
  silent: Set<number>;
  run(ms: number): void;
  stop(): void;
}

function crowd(n: number, scaleBeats: boolean): Crowd {
  const clock = new ManualClock();
  const log = collectLogs();
  const presences: Presence[] = [];
  const beats = Array.from({ length: n }, () => 0);
  const sent = Array.from({ length: n }, () => 0);
  const heard = Array.from({ length: n }, () => 0);
  const silent = new Set<number>();
  const id = (i: number): string => i.toString(16).padStart(32, '0');
  for (let i = 0; i < n; i++) {
    presences.push(new Presence({
      doc: new Y.Doc(),
      clock,
      self: { peerId: id(i), name: `p${i}`, telemetry: { cpu: 0, memory: 0, callsPerSecond: 0 } },
      heartbeatMs: HEARTBEAT_MS,
      timeoutMs: TIMEOUT_MS,
      logger: createLogger(`p${i}`, log.sink),
      scaleBeats,
    }));
  }
  presences.forEach((p, i) => {
    p.on('outgoing', ({ clients, origin, renewal }) => {
      // Only our own states, to everyone: what a full mesh's flood delivers once to each.
      if (origin !== null || silent.has(i)) return;
      if (renewal) beats[i]!++;
      sent[i]!++;
      const update = p.encode(clients);
      presences.forEach((q, j) => {
        if (j === i) return;
        heard[j]!++;
        q.apply(update, id(i));
      });
    });
  });
  // Everyone's first state, as the link-up exchange would bring it.
  presences.forEach((p, i) => presences.forEach((q, j) => j !== i && q.apply(p.encodeAll(), id(i))));
  return {
    clock, presences, beats, sent, heard, silent,
    run: (ms) => {
      for (let t = 0; t < ms; t += 100) clock.advance(100);
    },
    stop: () => presences.forEach((p) => p.destroy()),
  };
}

describe('Presence: heartbeats that grow with the mesh', () => {
  it('in a mesh of 24, beats every 2 s instead of every second, and every peer stays alive to every other', () => {
    const c = crowd(24, true);
    try {
      c.run(3000);
      expect(c.presences.map((p) => p.beatMs)).to.deep.equal(Array.from({ length: 24 }, () => 2000));
      expect(c.presences[0]!.state(c.presences[5]!.alive()[0]!)?.beat).to.equal(2000);
      const before = [...c.beats];
      c.run(60_000);
      // 30 beats a minute each, not 60.
      for (let i = 0; i < 24; i++) expect(c.beats[i]! - before[i]!).to.be.within(29, 31);
      expect(c.presences.every((p) => p.alive().length === 23)).to.equal(true);
    } finally {
      c.stop();
    }
  });

  it('hears about as many heartbeats per peer per second in a mesh of 48 as in one of 12', () => {
    const rate = (n: number): number => {
      const c = crowd(n, true);
      try {
        c.run(10_000);
        const before = c.heard[0]!;
        c.run(60_000);
        expect(c.presences[0]!.alive().length).to.equal(n - 1);
        return (c.heard[0]! - before) / 60;
      } finally {
        c.stop();
      }
    };
    const twelve = rate(12);
    const fortyEight = rate(48);
    expect(twelve).to.be.within(10, 12);
    // Four times the peers: at most a fifth more heartbeats heard (the period grows in half-period steps).
    expect(fortyEight).to.be.at.most(twelve * 1.2);
  });

  it('sends new telemetry with its next heartbeat, not on its own, once the period grew', () => {
    const c = crowd(24, true);
    try {
      c.run(3000);
      const p0 = c.presences[0]!;
      const before = c.sent[0]!;
      // Figures that change every 100 ms for 20 s: ten periods of 2 s.
      for (let t = 1; t <= 200; t++) {
        p0.setTelemetry({ cpu: (t % 10) / 10, memory: 0.5, callsPerSecond: t });
        c.clock.advance(100);
      }
      expect(c.sent[0]! - before).to.be.within(9, 11);
      const id0 = c.presences[1]!.alive().find((p) => c.presences[1]!.state(p)?.name === 'p0')!;
      c.run(2000);
      expect(c.presences[1]!.state(id0)?.telemetry.callsPerSecond).to.equal(200);
    } finally {
      c.stop();
    }
  });

  it('keeps a peer that fell silent alive for its stretched timeout, then lets it go', () => {
    const c = crowd(24, true);
    try {
      c.run(5000);
      const goneId = c.presences[0]!.alive().find((p) => c.presences[0]!.state(p)?.name === 'p3')!;
      expect(goneId).to.not.equal(undefined);
      c.silent.add(3);
      // Its period is 2 s, so its timeout is 10 s, not the base 5 s.
      c.run(7000);
      expect(c.presences[0]!.alive()).to.include(goneId);
      c.run(5000);
      expect(c.presences[0]!.alive()).to.not.include(goneId);
    } finally {
      c.stop();
    }
  });

  it('never stretches a timeout past its cap, whatever period a peer claims', () => {
    const c = crowd(3, true);
    try {
      c.run(2000);
      const liarId = c.presences[0]!.alive().find((p) => c.presences[0]!.state(p)?.name === 'p1')!;
      // A peer says it beats once an hour, then falls silent.
      const state = { ...c.presences[0]!.state(liarId)!, beat: 3_600_000 };
      const doc = new Y.Doc();
      const forger = new Presence({ doc, clock: c.clock, self: state, heartbeatMs: HEARTBEAT_MS, timeoutMs: TIMEOUT_MS, logger: createLogger('forger', collectLogs().sink) });
      c.silent.add(1);
      c.presences[0]!.apply(forger.encodeAll(), liarId);
      forger.destroy();
      c.run(MAX_SCALED_TIMEOUT_MS - 2000);
      expect(c.presences[0]!.alive()).to.include(liarId);
      c.run(4000);
      expect(c.presences[0]!.alive()).to.not.include(liarId);
    } finally {
      c.stop();
    }
  });

  it('leaves the period alone in a dozen peers and wherever it is not asked to grow', () => {
    for (const [n, scale] of [[12, true], [24, false]] as const) {
      const c = crowd(n, scale);
      try {
        c.run(3000);
        expect(c.presences.every((p) => p.beatMs === HEARTBEAT_MS)).to.equal(true);
        expect(c.presences[0]!.state(c.presences[0]!.alive()[0]!)?.beat).to.equal(undefined);
      } finally {
        c.stop();
      }
    }
  });
});
