// The WebRTC transport in real Chromium (native RTCPeerConnection), against the
// signaling server web-test-runner starts beside the pages.
import { runTransportTests } from '../acceptance/transport.ts';
import { webRtcTransportHarness } from '../acceptance/webrtc-harness.ts';

// Browser suites run under mocha, whose once-per-file hook is `before`.
declare function before(fn: () => Promise<void>): void;

let signalUrl = '';
before(async () => {
  const response = await fetch('/__liquidmesh/signal');
  if (!response.ok) throw new Error(await response.text());
  signalUrl = ((await response.json()) as { url: string }).url;
});

runTransportTests(webRtcTransportHarness('WebRtcTransport in Chromium', () => signalUrl));
