// Two NATS transports whose link falls out of step, against a real nats-server this file
// starts on 127.0.0.1: one end stops hearing the other (a one-way partition of its inbox)
// and drops the link as silent, while the other, still hearing its keepalives, keeps it.
// When the first dials again over the same two sessions, the link must start afresh on
// both ends: messages flow both ways again, instead of being taken for repeats forever.
import { connect } from '@nats-io/transport-node';
import { expect } from 'chai';
import { NatsTransport, type NatsConnectionLike } from '../../shared/adapters/nats-transport.ts';
import { createLogger } from '../../shared/log.ts';
import type { PeerId } from '../../shared/ports/transport.ts';
import { waitFor } from '../acceptance/wait.ts';
import { collectLogs } from '../helpers/mesh.ts';
import { type NatsCluster, startNatsCluster } from '../helpers/nats-server.ts';

const AUTH = { token: 'link-epoch-token' };
let cluster: NatsCluster;
const transports: NatsTransport[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 1, auth: AUTH });
});
afterAll(async () => {
  await cluster?.stop();
});
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.disconnect()));
});

/** A transport whose inbox can be cut off (what reaches it is dropped while `deaf` is set). */
function transport(mesh: string, name: string): { t: NatsTransport; deaf: { on: boolean }; received: string[] } {
  const deaf = { on: false };
  const received: string[] = [];
  const log = collectLogs();
  const t = new NatsTransport({
    connect: async (): Promise<NatsConnectionLike> => {
      const nc = await connect({ servers: cluster.urls, ...AUTH });
      return {
        publish: (subject, payload, options) => nc.publish(subject, payload, options),
        subscribe: (subject, options) =>
          nc.subscribe(subject, {
            ...(options.queue ? { queue: options.queue } : {}),
            callback: (error, message) => {
              if (deaf.on && subject.includes('.in.')) return;
              options.callback(error, message);
            },
          }),
        flush: () => nc.flush(),
        close: () => nc.close(),
        status: () => nc.status(),
      };
    },
    mesh,
    secret: 'epoch',
    announceMs: 200,
    timeoutMs: 1500,
    quietAnnounceMs: 400,
    maxLinks: 1,
    logger: createLogger(name, log.sink),
  });
  t.on('message', ({ data }) => void received.push(new TextDecoder().decode(data)));
  transports.push(t);
  return { t, deaf, received };
}

const id = (n: number): PeerId => n.toString(16).padStart(32, '0');

describe('A NATS link one end dropped while the other kept it', () => {
  it('starts afresh on both ends when the dropping end dials again, and carries messages both ways', async () => {
    const a = transport('epoch-1', 'a');
    const b = transport('epoch-1', 'b');
    await a.t.connect(id(0xa));
    await b.t.connect(id(0xb));
    await waitFor(() => a.t.peers().includes(id(0xb)) && b.t.peers().includes(id(0xa)), 'the two to link', 20_000);
    // Some traffic first, so that both ends have numbered frames past 1.
    for (let i = 0; i < 5; i++) {
      await a.t.send(id(0xb), new TextEncoder().encode(`a${i}`));
      await b.t.send(id(0xa), new TextEncoder().encode(`b${i}`));
    }
    await waitFor(() => a.received.length === 5 && b.received.length === 5, 'the first messages', 20_000);
    // A hears nothing from B for a while and drops the link as silent; B still hears A's keepalives and keeps it.
    a.deaf.on = true;
    await waitFor(() => !a.t.peers().includes(id(0xb)), 'a to drop the silent link', 20_000);
    expect(b.t.peers()).to.include(id(0xa));
    a.deaf.on = false;
    await waitFor(() => a.t.peers().includes(id(0xb)) && b.t.peers().includes(id(0xa)), 'the two to link again', 20_000);
    const before = { a: a.received.length, b: b.received.length };
    await a.t.send(id(0xb), new TextEncoder().encode('after-a'));
    await b.t.send(id(0xa), new TextEncoder().encode('after-b'));
    await waitFor(() => b.received.includes('after-a') && a.received.includes('after-b'), 'messages both ways after the link came back', 20_000);
    expect(b.received.slice(before.b)).to.deep.equal(['after-a']);
    expect(a.received.slice(before.a)).to.deep.equal(['after-b']);
  }, 90_000);
});
