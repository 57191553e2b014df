import { spawn } from 'node:child_process';
import { expect } from 'chai';
import WebSocket from 'ws';
import { isLoopbackHost, parseSignalArgs, signalCommand } from '../../node-host/signal/signal-command.ts';
import { startSignalServer, type SignalServer } from '../../node-host/signal/signal-server.ts';
import { trackTimers } from '../../node-host/signal/timer-scope.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';

type Message = Record<string, unknown>;

/** A WebSocket client that keeps every JSON message it receives, in order. */
class Client {
  readonly socket: WebSocket;
  readonly messages: Message[] = [];
  readonly raw: string[] = [];
  pings = 0;
  closeCode: number | undefined;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data: WebSocket.Data) => {
      const text = String(data);
      this.raw.push(text);
      this.messages.push(JSON.parse(text) as Message);
    });
    socket.on('ping', () => this.pings++);
    socket.on('close', (code: number) => {
      this.closeCode = code;
    });
  }

  /** Connect and wait for the socket to open. */
  static async open(url: string, options: WebSocket.ClientOptions & { autoPong?: boolean } = {}): Promise<Client> {
    const socket = new WebSocket(url, options);
    const client = new Client(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message));
  }

  of(type: string): Message[] {
    return this.messages.filter((m) => m.type === type);
  }

  /**
   * Round-trip a y-webrtc ping. The server handles one socket's messages in order, so once
   * the pong is back every earlier message of this client has been processed, and
   * everything the server sent this client before that is in `messages`.
   */
  async sync(): Promise<void> {
    const pongs = this.of('pong').length;
    this.send({ type: 'ping' });
    await waitFor(() => this.of('pong').length > pongs, 'a pong');
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.socket.once('close', resolve));
    this.socket.close();
    await closed;
  }

  async closed(): Promise<number> {
    await waitFor(() => this.closeCode !== undefined, 'the socket to close');
    return this.closeCode!;
  }
}

/** The error a WebSocket connection attempt fails with. */
function connectionError(url: string): Promise<Error> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => {
      socket.terminate();
      reject(new Error(`expected ${url} to refuse the connection`));
    });
    socket.once('error', resolve);
  });
}

function peerjsUrl(server: SignalServer, id: string, token: string): string {
  return `ws://127.0.0.1:${server.port}${server.peerjsPath}/peerjs?key=peerjs&id=${id}&token=${token}`;
}

describe('signal server', () => {
  let server: SignalServer;
  const clients: Client[] = [];
  const open = async (url: string, options?: WebSocket.ClientOptions & { autoPong?: boolean }): Promise<Client> => {
    const client = await Client.open(url, options);
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    server = await startSignalServer();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
  });

  it('listens on 127.0.0.1 only, on a free port, by default', () => {
    const address = server.address();
    expect(address.address).to.equal('127.0.0.1');
    expect(address.family).to.equal('IPv4');
    expect(server.port).to.equal(address.port).and.to.be.greaterThan(0);
    expect(server.url).to.equal(`http://127.0.0.1:${server.port}`);
    expect(server.signalUrl).to.equal(`ws://127.0.0.1:${server.port}/signal`);
    expect(server.peerjsPath).to.equal('/peerjs');
  });

  describe('y-webrtc signaling on /signal', () => {
    it('delivers a publish verbatim, with the subscriber count, to every subscriber of its topic, the sender included', async () => {
      const [a, b, c] = [await open(server.signalUrl), await open(server.signalUrl), await open(server.signalUrl)];
      a.send({ type: 'subscribe', topics: ['room-1'] });
      b.send({ type: 'subscribe', topics: ['room-1'] });
      c.send({ type: 'subscribe', topics: ['room-2'] });
      await Promise.all([a.sync(), b.sync(), c.sync()]);
      expect(server.stats()).to.deep.equal({ signalClients: 3, topics: 2, peerjsClients: 0 });

      const published = { type: 'publish', topic: 'room-1', data: { to: 'x', nested: [1, 'two', null] } };
      a.send(published);
      await waitFor(() => a.of('publish').length === 1 && b.of('publish').length === 1, 'the publish at both subscribers');
      expect(a.of('publish')[0]).to.deep.equal({ ...published, clients: 2 });
      expect(b.of('publish')[0]).to.deep.equal({ ...published, clients: 2 });
      // A was sent its copy only after the server had queued every copy, so anything for C
      // would arrive before C's pong.
      await c.sync();
      expect(c.of('publish')).to.deep.equal([]);
    });

    it('delivers a publish from a socket that is not subscribed to the topic to its subscribers', async () => {
      const [a, b] = [await open(server.signalUrl), await open(server.signalUrl)];
      a.send({ type: 'subscribe', topics: ['t'] });
      await a.sync();
      b.send({ type: 'publish', topic: 't', n: 1 });
      await waitFor(() => a.of('publish').length === 1, 'the publish');
      expect(a.of('publish')[0]).to.deep.equal({ type: 'publish', topic: 't', n: 1, clients: 1 });
      await b.sync();
      expect(b.of('publish')).to.deep.equal([]);
    });

    it('stops delivering a topic to a socket that unsubscribed from it', async () => {
      const [a, b] = [await open(server.signalUrl), await open(server.signalUrl)];
      a.send({ type: 'subscribe', topics: ['t'] });
      b.send({ type: 'subscribe', topics: ['t', 'u'] });
      await Promise.all([a.sync(), b.sync()]);
      b.send({ type: 'unsubscribe', topics: ['t'] });
      await b.sync();
      expect(server.stats().topics).to.equal(2);

      a.send({ type: 'publish', topic: 't', n: 1 });
      await waitFor(() => a.of('publish').length === 1, 'the publish back at the sender');
      expect(a.of('publish')[0]!.clients).to.equal(1);
      await b.sync();
      expect(b.of('publish')).to.deep.equal([]);

      a.send({ type: 'unsubscribe', topics: ['t'] });
      await a.sync();
      expect(server.stats().topics).to.equal(1);
    });

    it('answers ping with pong', async () => {
      const a = await open(server.signalUrl);
      a.send({ type: 'ping' });
      await waitFor(() => a.messages.length === 1, 'an answer');
      expect(a.raw).to.deep.equal(['{"type":"pong"}']);
    });

    it('ignores malformed messages and keeps serving the socket that sent them', async () => {
      const a = await open(server.signalUrl);
      for (const junk of ['not json', '{"type":', '[1,2]', 'null', '42', '{"type":5}', '{"no":"type"}', '{"type":"nonsense"}',
        '{"type":"subscribe","topics":"t"}', '{"type":"subscribe"}', '{"type":"subscribe","topics":[1,null,{},""]}',
        '{"type":"unsubscribe","topics":7}', '{"type":"publish"}', '{"type":"publish","topic":["t"]}']) {
        a.send(junk);
      }
      a.send(Buffer.from([0xff, 0x00, 0xfe]));
      await a.sync();
      expect(a.messages).to.deep.equal([{ type: 'pong' }]);
      expect(server.stats().topics).to.equal(0);

      a.send({ type: 'subscribe', topics: ['t'] });
      a.send({ type: 'publish', topic: 't', ok: true });
      await waitFor(() => a.of('publish').length === 1, 'the publish');
      expect(a.of('publish')[0]).to.deep.equal({ type: 'publish', topic: 't', ok: true, clients: 1 });
    });

    it('closes a socket that sends a message over 1 MiB (code 1009) and keeps serving the others', async () => {
      const [big, other] = [await open(server.signalUrl), await open(server.signalUrl)];
      other.send({ type: 'subscribe', topics: ['t'] });
      await other.sync();
      big.send(JSON.stringify({ type: 'publish', topic: 't', data: 'x'.repeat(1024 * 1024) }));
      expect(await big.closed()).to.equal(1009);
      await waitFor(() => server.stats().signalClients === 1, 'the oversize sender to be dropped');

      other.send({ type: 'publish', topic: 't', small: true });
      await waitFor(() => other.of('publish').length === 1, 'the next publish');
      expect(other.of('publish')[0]).to.deep.equal({ type: 'publish', topic: 't', small: true, clients: 1 });
      const late = await open(server.signalUrl);
      await late.sync();
    });

    it('accepts a message just under the size limit', async () => {
      const a = await open(server.signalUrl);
      a.send({ type: 'subscribe', topics: ['t'] });
      const data = 'x'.repeat(1024 * 1024 - 100);
      a.send({ type: 'publish', topic: 't', data });
      await waitFor(() => a.of('publish').length === 1, 'the large publish');
      expect(a.of('publish')[0]!.data).to.equal(data);
    });

    it('subscribes one socket to at most 100 topics', async () => {
      const a = await open(server.signalUrl);
      a.send({ type: 'subscribe', topics: Array.from({ length: 150 }, (_, i) => `t${i}`) });
      await a.sync();
      expect(server.stats().topics).to.equal(100);
      a.send({ type: 'subscribe', topics: ['one-more'] });
      a.send({ type: 'unsubscribe', topics: ['t0'] });
      a.send({ type: 'subscribe', topics: ['t0', 't1'] });
      await a.sync();
      expect(server.stats().topics).to.equal(100);

      a.send({ type: 'publish', topic: 't99', n: 1 });
      a.send({ type: 'publish', topic: 't100', n: 2 });
      a.send({ type: 'publish', topic: 'one-more', n: 3 });
      await a.sync();
      expect(a.of('publish').map((m) => m.n)).to.deep.equal([1]);
    });

    it('removes a closed socket from its topics', async () => {
      const [a, b] = [await open(server.signalUrl), await open(server.signalUrl)];
      a.send({ type: 'subscribe', topics: ['shared', 'only-a'] });
      b.send({ type: 'subscribe', topics: ['shared'] });
      await Promise.all([a.sync(), b.sync()]);
      expect(server.stats()).to.deep.equal({ signalClients: 2, topics: 2, peerjsClients: 0 });

      await a.close();
      await waitFor(() => server.stats().signalClients === 1, 'the server to notice the close');
      expect(server.stats().topics).to.equal(1);
      b.send({ type: 'publish', topic: 'shared', n: 1 });
      await waitFor(() => b.of('publish').length === 1, 'the publish');
      expect(b.of('publish')[0]!.clients).to.equal(1);

      await b.close();
      await waitFor(() => server.stats().signalClients === 0, 'the second close');
      expect(server.stats().topics).to.equal(0);
    });

    it('publishes the will of a socket that dies to its topic, and not that of a socket that withdrew it', async () => {
      const [dying, leaving, watcher] = [await open(server.signalUrl), await open(server.signalUrl), await open(server.signalUrl)];
      for (const c of [dying, leaving, watcher]) c.send({ type: 'subscribe', topics: ['mesh'] });
      dying.send({ type: 'will', topic: 'mesh', data: 'sealed-dying' });
      leaving.send({ type: 'will', topic: 'mesh', data: 'sealed-leaving' });
      leaving.send({ type: 'will', topic: 'mesh' });
      await Promise.all([dying.sync(), leaving.sync(), watcher.sync()]);
      expect(watcher.of('publish')).to.deep.equal([]);

      await leaving.close();
      dying.socket.terminate(); // no closing handshake, as when its process is killed
      await waitFor(() => server.stats().signalClients === 1, 'the server to notice both closes');
      await watcher.sync();
      expect(watcher.of('publish')).to.deep.equal([{ type: 'publish', topic: 'mesh', data: 'sealed-dying', clients: 1 }]);
    });

    it('ignores a will for a topic the socket is not subscribed to, or too large, and keeps serving it', async () => {
      const [a, watcher] = [await open(server.signalUrl), await open(server.signalUrl)];
      watcher.send({ type: 'subscribe', topics: ['mesh'] });
      a.send({ type: 'will', topic: 'mesh', data: 'not subscribed' });
      a.send({ type: 'subscribe', topics: ['other'] });
      a.send({ type: 'will', topic: 'other', data: 'x'.repeat(2049) });
      a.send({ type: 'will', topic: 'other', data: { not: 'a string' } });
      a.send({ type: 'will' });
      await Promise.all([a.sync(), watcher.sync()]);
      a.socket.terminate();
      await waitFor(() => server.stats().signalClients === 1, 'the server to notice the close');
      await watcher.sync();
      expect(watcher.of('publish')).to.deep.equal([]);
    });

    it('publishes the will of a socket it closes for not answering pings', async () => {
      const quick = await startSignalServer({ heartbeatMs: 300 });
      try {
        const silent = await open(quick.signalUrl, { autoPong: false });
        const watcher = await open(quick.signalUrl);
        for (const c of [silent, watcher]) c.send({ type: 'subscribe', topics: ['mesh'] });
        silent.send({ type: 'will', topic: 'mesh', data: 'sealed' });
        await Promise.all([silent.sync(), watcher.sync()]);
        await silent.closed();
        await waitFor(() => watcher.of('publish').length === 1, 'the will');
        expect(watcher.of('publish')[0]).to.deep.include({ topic: 'mesh', data: 'sealed' });
      } finally {
        await Promise.all(clients.splice(0).map((c) => c.close()));
        await quick.close();
      }
    });

    it('closes a socket that does not answer pings and keeps one that does', async () => {
      const quick = await startSignalServer({ heartbeatMs: 300 });
      try {
        const silent = await open(quick.signalUrl, { autoPong: false });
        const answering = await open(quick.signalUrl);
        silent.send({ type: 'subscribe', topics: ['t'] });
        await silent.sync();
        expect(await silent.closed()).to.equal(1006);
        expect(silent.pings).to.be.greaterThan(0);
        expect(answering.pings).to.be.greaterThan(0);
        expect(answering.socket.readyState).to.equal(WebSocket.OPEN);
        await waitFor(() => quick.stats().signalClients === 1, 'the silent socket to be dropped');
        expect(quick.stats().topics).to.equal(0);
      } finally {
        await Promise.all(clients.splice(0).map((c) => c.close()));
        await quick.close();
      }
    });

    it('answers a plain HTTP request to /signal with 426 Upgrade Required', async () => {
      const response = await fetch(`${server.url}/signal`);
      expect(response.status).to.equal(426);
    });
  });

  describe('PeerJS on /peerjs', () => {
    it('serves the PeerServer HTTP API, with discovery off', async () => {
      const id = await fetch(`${server.url}/peerjs/peerjs/id`);
      expect(id.status).to.equal(200);
      expect(await id.text()).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      const about = await fetch(`${server.url}/peerjs/`);
      expect(((await about.json()) as { name: string }).name).to.equal('PeerJS Server');
      expect((await fetch(`${server.url}/peerjs/peerjs/peers`)).status).to.equal(401);
      expect((await fetch(`${server.url}/elsewhere`)).status).to.equal(404);
    });

    it('opens a PeerJS-protocol WebSocket while /signal keeps working on the same port', async () => {
      const peer = await open(peerjsUrl(server, 'abc', 't'));
      await waitFor(() => peer.messages.length === 1, 'the OPEN message');
      expect(peer.messages).to.deep.equal([{ type: 'OPEN' }]);

      const signal = await open(server.signalUrl);
      signal.send({ type: 'subscribe', topics: ['t'] });
      signal.send({ type: 'publish', topic: 't', n: 1 });
      await waitFor(() => signal.of('publish').length === 1, 'the publish');
      expect(server.stats()).to.deep.equal({ signalClients: 1, topics: 1, peerjsClients: 1 });

      const second = await open(peerjsUrl(server, 'def', 't'));
      await waitFor(() => second.messages.length === 1, 'the second OPEN');
      expect(server.stats().peerjsClients).to.equal(2);
    });

    it('relays offers between PeerJS ids and refuses a taken id', async () => {
      const a = await open(peerjsUrl(server, 'peer-a', 'token-a'));
      const b = await open(peerjsUrl(server, 'peer-b', 'token-b'));
      await waitFor(() => a.messages.length === 1 && b.messages.length === 1, 'both OPEN messages');

      a.send({ type: 'OFFER', dst: 'peer-b', payload: { sdp: 'v=0' } });
      await waitFor(() => b.messages.length === 2, 'the offer');
      expect(b.messages[1]).to.deep.equal({ type: 'OFFER', src: 'peer-a', dst: 'peer-b', payload: { sdp: 'v=0' } });

      const impostor = await open(peerjsUrl(server, 'peer-a', 'other-token'));
      await waitFor(() => impostor.messages.length === 1, 'the refusal');
      expect(impostor.messages[0]!.type).to.equal('ID-TAKEN');
      await impostor.closed();
    });

    it('survives malformed PeerJS messages', async () => {
      const a = await open(peerjsUrl(server, 'peer-a', 'x'));
      const b = await open(peerjsUrl(server, 'peer-b', 'y'));
      await waitFor(() => a.messages.length === 1 && b.messages.length === 1, 'both OPEN messages');
      a.send('this is not json');
      a.send('{"type":"OFFER"}');
      a.send({ type: 'ANSWER', dst: 'peer-b', payload: 'after the junk' });
      await waitFor(() => b.messages.length === 2, 'the answer');
      expect(b.messages[1]).to.include({ type: 'ANSWER', src: 'peer-a', payload: 'after the junk' });
    });
  });

  it('refuses WebSocket upgrades for any other path and keeps serving', async () => {
    for (const path of ['/', '/nope', '/signal/extra', '/peerjs', '/peerjs/other']) {
      const error = await connectionError(`ws://127.0.0.1:${server.port}${path}`);
      expect(error.message, path).to.include('404');
    }
    const a = await open(server.signalUrl);
    await a.sync();
  });

  it('serves both endpoints under a base path', async () => {
    const based = await startSignalServer({ path: '/mesh/' });
    try {
      expect(based.url).to.equal(`http://127.0.0.1:${based.port}/mesh`);
      expect(based.signalUrl).to.equal(`ws://127.0.0.1:${based.port}/mesh/signal`);
      expect(based.peerjsPath).to.equal('/mesh/peerjs');
      const signal = await open(based.signalUrl);
      await signal.sync();
      const peer = await open(peerjsUrl(based, 'abc', 't'));
      await waitFor(() => peer.messages.length === 1, 'the OPEN message');
      expect((await fetch(`${based.url}/peerjs/peerjs/id`)).status).to.equal(200);
      expect((await connectionError(`ws://127.0.0.1:${based.port}/signal`)).message).to.include('404');
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await based.close();
    }
  });

  it('close() closes every socket, stops listening and is idempotent', async () => {
    const signal = await open(server.signalUrl);
    signal.send({ type: 'subscribe', topics: ['t'] });
    await signal.sync();
    const peer = await open(peerjsUrl(server, 'abc', 't'));
    await waitFor(() => peer.messages.length === 1, 'the OPEN message');

    const first = server.close();
    expect(server.close()).to.equal(first);
    await first;
    await server.close();
    expect(await signal.closed()).to.equal(1006);
    expect(await peer.closed()).to.equal(1006);
    expect(server.stats()).to.deep.equal({ signalClients: 0, topics: 0, peerjsClients: 0 });
    expect((await connectionError(server.signalUrl)).message).to.include('ECONNREFUSED');
  });

  it('close() leaves nothing running: a process that closed its server exits by itself', async () => {
    // Anything left behind (a socket, the heartbeat, the PeerServer's timer loops) would
    // keep this child process alive.
    const moduleUrl = new URL('../../node-host/signal/signal-server.ts', import.meta.url).href;
    const script = `
      const { startSignalServer } = await import(${JSON.stringify(moduleUrl)});
      const { default: WebSocket } = await import('ws');
      const server = await startSignalServer();
      const opened = (url) => new Promise((resolve, reject) => {
        const socket = new WebSocket(url);
        socket.once('open', () => resolve(socket));
        socket.once('error', reject);
      });
      await opened(server.signalUrl);
      await opened('ws://127.0.0.1:' + server.port + '/peerjs/peerjs?key=peerjs&id=abc&token=t');
      await server.close();
      console.log('closed');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let exitCode: number | null | undefined;
    child.on('exit', (code) => (exitCode = code));
    try {
      await waitFor(() => exitCode !== undefined, 'the child process to exit by itself', 30_000);
    } finally {
      if (exitCode === undefined) child.kill();
    }
    expect(output.trim()).to.equal('closed');
    expect(exitCode).to.equal(0);
  });

  it('rejects with ERR_LISTEN_FAILED when the port is taken', async () => {
    const error = await rejectionOf(startSignalServer({ port: server.port }));
    expect(error.code).to.equal('ERR_LISTEN_FAILED');
    expect(error.message).to.include('EADDRINUSE');
  });

  it('rejects bad options with ERR_INVALID_PARAMS', async () => {
    for (const options of [{ port: -1 }, { port: 70000 }, { port: 1.5 }, { path: 'signal' }, { path: '/a?b' }, { path: '/:key' }, { path: '//' }, { host: '' }, { maxMessageBytes: 0 }, { maxTopicsPerSocket: -3 }]) {
      const error = await rejectionOf(startSignalServer(options));
      expect(error.code, JSON.stringify(options)).to.equal('ERR_INVALID_PARAMS');
    }
  });
});

describe('signal command', () => {
  it('parses --host and --port, defaulting to 127.0.0.1:4444, and the TLS options', () => {
    expect(parseSignalArgs([])).to.deep.equal({ host: '127.0.0.1', port: 4444, trustPort: 8081 });
    expect(parseSignalArgs(['--host', '0.0.0.0', '--port', '5000'])).to.deep.equal({ host: '0.0.0.0', port: 5000, trustPort: 8081 });
    expect(parseSignalArgs(['--port=0', '--host=localhost'])).to.deep.equal({ host: 'localhost', port: 0, trustPort: 8081 });
    expect(parseSignalArgs(['--trust-port', '0', '--data-dir', '/d', '--cert=c.pem', '--key', 'k.pem'])).to.deep.equal({ host: '127.0.0.1', port: 4444, trustPort: 0, dataDir: '/d', cert: 'c.pem', key: 'k.pem' });
  });

  it('rejects unknown arguments and bad values with ERR_INVALID_PARAMS', () => {
    for (const args of [['--port', 'x'], ['--port', '70000'], ['--trust-port', 'x'], ['--port', '-1'], ['--port'], ['--host'], ['--host='], ['--verbose'], ['start']]) {
      expect(() => parseSignalArgs(args), args.join(' ')).to.throw().with.property('code', 'ERR_INVALID_PARAMS');
    }
  });

  it('tells loopback hosts from hosts reachable from the network', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(host), host).to.equal(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.2', '10.0.0.1', 'example.org', '128.0.0.1']) expect(isLoopbackHost(host), host).to.equal(false);
  });

  it('prints where it listens, serves until stopped, then closes', async () => {
    const lines: string[] = [];
    const warnings: string[] = [];
    const stop = new AbortController();
    const running = signalCommand(['--port', '0'], { stop: stop.signal, print: (l) => lines.push(l), warn: (l) => warnings.push(l) });
    await waitFor(() => lines.length === 1, 'the banner');
    const match = /^signaling on http:\/\/127\.0\.0\.1:(\d+) \(y-webrtc: ws:\/\/127\.0\.0\.1:\1\/signal, PeerJS: \/peerjs\)$/.exec(lines[0]!);
    expect(match, lines[0]).to.not.equal(null);
    const client = await Client.open(`ws://127.0.0.1:${match![1]}/signal`);
    await client.sync();

    stop.abort();
    await running;
    expect(await client.closed()).to.equal(1006);
    expect(lines[1]).to.equal('signaling stopped');
    expect(warnings).to.deep.equal([]);
  });
});

describe('trackTimers', () => {
  it('clears a self-rescheduling timer loop it tracked, and only that', async () => {
    const original = globalThis.setTimeout;
    let runs = 0;
    const scope = trackTimers(() => {
      const loop = (): void => {
        runs++;
        setTimeout(loop, 1);
      };
      setTimeout(loop, 1);
    });
    expect(globalThis.setTimeout).to.equal(original);
    await waitFor(() => runs >= 3, 'the loop to reschedule itself');

    scope.dispose();
    scope.dispose();
    const runsAtDispose = runs;
    // The loop's pending 1 ms timer was due before this 20 ms one: had it survived the
    // dispose, it would have run first.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(runs).to.equal(runsAtDispose);
  });
});
