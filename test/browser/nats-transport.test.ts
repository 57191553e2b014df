// The NATS transport in real Chromium, over the browser's own WebSocket (wsconnect, as the
// PWA connects), against the nats-server web-test-runner starts beside the pages.
import { wsconnect } from '@nats-io/nats-core';
import { natsTransportHarness } from '../acceptance/nats-harness.ts';
import { runTransportTests } from '../acceptance/transport.ts';

// Browser suites run under mocha, whose once-per-file hook is `before`.
declare function before(fn: () => Promise<void>): void;

let server = { wsUrl: '', user: '', pass: '' };
before(async () => {
  const response = await fetch('/__liquidmesh/nats');
  if (!response.ok) throw new Error(await response.text());
  server = (await response.json()) as typeof server;
});

runTransportTests(natsTransportHarness('NatsTransport in Chromium', () => () => wsconnect({ servers: [server.wsUrl], user: server.user, pass: server.pass })));
