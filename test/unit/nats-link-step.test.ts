// Two ends of a NATS link out of step, against a real nats-server this file starts on
// 127.0.0.1: one end drops the link (it heard nothing for a while) while the other still
// holds it, then they link again over the same pair of sessions. Before, the end still
// holding the old link took the new link's frames for repeats of frames it already had
// and dropped them, and repeated its own forever to an end that could not take them: at
// 300 peers most link frames at rest were such repeats. Now the two ends notice, end the
// link and start afresh, and messages flow both ways again.
import { expect } from 'chai';
import { NatsTransport, type NatsConnectionLike } from '../../shared/adapters/nats-transport.ts';
import type { PeerId, TransportMessage } from '../../shared/ports/transport.ts';
import { natsConnector } from '../../node-host/nats/nats-connect.ts';
import { waitFor } from '../acceptance/wait.ts';
import { type NatsCluster, startNatsCluster } from '../helpers/nats-server.ts';

const AUTH = { token: 'link-step-token' };
let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await startNatsCluster({ auth: AUTH });
});
afterAll(async () => {
  await cluster?.stop();
});

const id = (n: number): PeerId => n.toString(16).padStart(32, 'e');

/** A real connection whose publishes to subjects `drop` names are lost (a one-way partition). */
function lossy(drop: (subject: string) => boolean): () => Promise<NatsConnectionLike> {
  const connect = natsConnector({ servers: cluster.urls, ...AUTH });
  return async () => {
    const nc = await connect();
    return {
      publish: (subject, payload, options) => {
        if (!drop(subject)) nc.publish(subject, payload, options);
      },
      subscribe: (subject, options) => nc.subscribe(subject, options),
      flush: () => nc.flush(),
      close: () => nc.close(),
      status: () => nc.status(),
    };
  };
}

describe('A NATS link whose ends fell out of step', () => {
  const made: NatsTransport[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((t) => t.disconnect()));
  });

  it('is ended and made afresh when one end dropped it and the other still held it, and messages flow both ways again', async () => {
    const a = id(1);
    const b = id(2);
    let partitioned = false;
    const options = { mesh: 'link-step', secret: 's', announceMs: 100, timeoutMs: 1000, quietAnnounceMs: 300, maxLinks: 2 };
    // While partitioned, nothing A publishes reaches B's inbox: B times the link out, A keeps it (B's frames still arrive).
    const ta = new NatsTransport({ ...options, connect: lossy((subject) => partitioned && subject.endsWith(`.in.${b}`)) });
    const tb = new NatsTransport({ ...options, connect: lossy(() => false) });
    made.push(ta, tb);
    const atA: TransportMessage[] = [];
    const atB: TransportMessage[] = [];
    ta.on('message', (m) => atA.push(m));
    tb.on('message', (m) => atB.push(m));
    await ta.connect(a);
    await tb.connect(b);
    await waitFor(() => ta.peers().includes(b) && tb.peers().includes(a), 'the first link', 20_000);
    for (let i = 0; i < 3; i++) {
      await ta.send(b, new Uint8Array([1, i]));
      await tb.send(a, new Uint8Array([2, i]));
    }
    await waitFor(() => atA.length === 3 && atB.length === 3, 'three messages each way on the first link', 20_000);

    partitioned = true;
    let bLeft = false;
    tb.on('peer-left', (p) => void (p === a && (bLeft = true)));
    await waitFor(() => bLeft, 'B to time the link out', 20_000);
    // The situation under test: A still holds the first link.
    expect(ta.peers()).to.include(b);
    partitioned = false;

    // B dials A again over the same pair of sessions; whatever the ends go through, a link
    // comes up on which what is sent now arrives, both ways.
    const received = (box: TransportMessage[], tag: number): boolean => box.some((m) => m.data[0] === tag);
    await waitFor(async () => {
      if (ta.peers().includes(b) && tb.peers().includes(a)) {
        await Promise.all([ta.send(b, new Uint8Array([3])).catch(() => {}), tb.send(a, new Uint8Array([4])).catch(() => {})]);
      }
      await new Promise((r) => setTimeout(r, 200));
      return received(atB, 3) && received(atA, 4);
    }, 'a message each way on the link made again', 30_000);
  }, 90_000);
});
