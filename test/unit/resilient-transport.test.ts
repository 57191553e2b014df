// The transport wrapper that lets a peer start while its servers are down: a failed
// connect is retried in the background; only an error marked fatal (refused credentials)
// reaches the caller, and then nothing is retried.
import { expect } from 'chai';
import { ResilientTransport } from '../../shared/adapters/resilient-transport.ts';
import { defineError } from '../../shared/errors.ts';
import { Emitter, type Unsubscribe } from '../../shared/events.ts';
import type { PeerId, Transport, TransportEvents } from '../../shared/ports/transport.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';

const Refused = defineError('ERR_TEST_REFUSED', 'TestRefusedError');
const Unreachable = defineError('ERR_TEST_UNREACHABLE', 'TestUnreachableError');

/** A transport whose connects fail with the queued errors, then succeed. */
class FlakyTransport implements Transport {
  readonly kind = 'flaky';
  readonly maxMessageSize = 1024;
  readonly events = new Emitter<TransportEvents>();
  attempts = 0;
  constructor(readonly failures: Error[]) {}
  async connect(_id: PeerId): Promise<void> {
    this.attempts += 1;
    const next = this.failures.shift();
    if (next) throw next;
  }
  async send(): Promise<void> {}
  async disconnect(): Promise<void> {}
  peers(): PeerId[] {
    return [];
  }
  on<K extends keyof TransportEvents>(event: K, listener: (payload: TransportEvents[K]) => void): Unsubscribe {
    return this.events.on(event, listener);
  }
}

/** A transport that writes a header of its own: it offers framed sends and keeps what it was handed. */
class FramingTransport extends FlakyTransport {
  readonly headroom = 2;
  framed: Uint8Array[] = [];
  async sendFramed(_to: PeerId, frame: Uint8Array): Promise<void> {
    this.framed.push(frame);
  }
}

describe('ResilientTransport', () => {
  it('offers framed sends exactly when the transport it wraps does, and hands them through', async () => {
    expect(new ResilientTransport(new FlakyTransport([])).headroom).to.equal(undefined);
    const inner = new FramingTransport([]);
    const t = new ResilientTransport(inner);
    expect(t.headroom).to.equal(2);
    const frame = new Uint8Array([0, 0, 7, 8]);
    await t.sendFramed('b'.repeat(32), frame);
    expect(inner.framed).to.deep.equal([frame]);
  });

  it('starts while the server is unreachable and connects once it answers', async () => {
    const inner = new FlakyTransport([new Unreachable('down'), new Unreachable('still down')]);
    const t = new ResilientTransport(inner, { retryMs: 1, fatal: (e) => e instanceof Refused });
    await t.connect('a'.repeat(32));
    await waitFor(() => t.state === 'connected', 'the third attempt to connect');
    expect(inner.attempts).to.equal(3);
    expect(t.lastError).to.equal('');
    await t.disconnect();
  });

  it('rejects the connect with a fatal error and does not retry it', async () => {
    const inner = new FlakyTransport([new Refused('wrong token')]);
    const t = new ResilientTransport(inner, { retryMs: 1, fatal: (e) => e instanceof Refused });
    const error = await rejectionOf(t.connect('a'.repeat(32)));
    expect(error.code).to.equal('ERR_TEST_REFUSED');
    expect(t.state).to.equal('closed');
    // The retry delay is 1 ms: a retry, had one been scheduled, would have run by now.
    await new Promise((r) => setTimeout(r, 30));
    expect(inner.attempts).to.equal(1);
  });

  it('without a fatal test, resolves at once whatever the first attempt does', async () => {
    const inner = new FlakyTransport([new Refused('wrong token')]);
    const t = new ResilientTransport(inner, { retryMs: 1 });
    await t.connect('a'.repeat(32));
    await waitFor(() => t.state === 'connected', 'the retry to connect');
    await t.disconnect();
  });
});
