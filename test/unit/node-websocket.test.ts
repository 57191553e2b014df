// Node's WebSocket global (node-host/webrtc/globals.ts) behaves as a browser's when the
// server is not there: an error event, then close — not an exception that ends the process
// (a Node peer reopened with its signaling server down died of one inside PeerJS).
import { expect } from 'chai';
import { createServer } from 'node:net';
import '../../node-host/webrtc/globals.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';

requireLoopbackNamespace();

/** A port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('WebSocket in Node peers', () => {
  it('reports a refused connection as close, with or without an error listener, and the process goes on', async () => {
    const port = await closedPort();
    const uncaught: unknown[] = [];
    const record = (e: unknown): void => void uncaught.push(e);
    process.on('uncaughtException', record);
    try {
      // As PeerJS opens its socket: close and message handlers, no onerror.
      const bare = new WebSocket(`ws://127.0.0.1:${port}/peerjs`);
      const closed = await new Promise<number>((resolve) => (bare.onclose = (e) => resolve(e.code)));
      expect(closed).to.equal(1006);
      const errors: string[] = [];
      const listened = new WebSocket(`ws://127.0.0.1:${port}/signal`);
      listened.onerror = (e) => errors.push(e.type);
      await new Promise((resolve) => (listened.onclose = resolve));
      expect(errors).to.deep.equal(['error']);
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).to.deep.equal([]);
    } finally {
      process.off('uncaughtException', record);
    }
  });
});
