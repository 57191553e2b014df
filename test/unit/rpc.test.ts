import { expect } from 'chai';
import { HashMismatchError, MeshError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import type { RpcFrame } from '../../shared/protocol/wire.ts';
import { Rpc } from '../../shared/rpc/rpc.ts';
import { rejectionOf, tick, waitFor } from '../acceptance/wait.ts';
import { collectLogs, createMesh, type Mesh } from '../helpers/mesh.ts';

declare module '../../shared/rpc/methods.ts' {
  interface MeshMethods {
    'test.echo': { params: { data: Uint8Array }; result: { data: Uint8Array; length: number } };
    'test.fail': { params: { kind: 'mesh' | 'plain' }; result: never };
    'test.wait': { params: Record<string, never>; result: string };
  }
}

describe('RPC between peers', () => {
  let mesh: Mesh;
  let clock: ManualClock;
  let a: Mesh['peers'][0];
  let b: Mesh['peers'][0];
  let aborted: number;

  beforeEach(async () => {
    clock = new ManualClock();
    mesh = await createMesh(['a', 'b'], { clock, networkOptions: { maxMessageSize: 16 * 1024 } });
    [a, b] = mesh.peers as [typeof a, typeof b];
    await waitFor(() => a.linked().includes(b.id) && b.linked().includes(a.id), 'the link');
    aborted = 0;
    b.rpc.handle('test.echo', ({ data }) => ({ data, length: data.byteLength }));
    b.rpc.handle('test.fail', ({ kind }) => {
      if (kind === 'mesh') throw new HashMismatchError('bytes differ', { expected: 'x', actual: 'y' });
      throw new TypeError('plain failure');
    });
    b.rpc.handle('test.wait', (_p, { signal }) => new Promise<string>((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        aborted++;
        reject(new Error('aborted'));
      });
    }));
  });
  afterEach(async () => mesh.stopAll());

  it('revives a named error with its class, code and data on the caller\'s side', async () => {
    const error = await rejectionOf(a.call(b.id, 'test.fail', { kind: 'mesh' }));
    expect(error).to.be.instanceOf(HashMismatchError);
    expect(error.code).to.equal('ERR_HASH_MISMATCH');
    expect((error as MeshError).data).to.deep.equal({ expected: 'x', actual: 'y' });
    expect(error.message).to.equal('bytes differ');
  });

  it('turns a non-mesh error into ERR_REMOTE_INTERNAL with its message', async () => {
    const error = await rejectionOf(a.call(b.id, 'test.fail', { kind: 'plain' }));
    expect(error.code).to.equal('ERR_REMOTE_INTERNAL');
    expect(error.message).to.equal('plain failure');
  });

  it('answers an unknown method with ERR_METHOD_NOT_FOUND', async () => {
    const error = await rejectionOf(a.rpc.call(b.id, 'no.such' as 'test.wait', {}));
    expect(error.code).to.equal('ERR_METHOD_NOT_FOUND');
  });

  it('fails a call without an answer within its time limit with ERR_RPC_TIMEOUT and cancels it remotely', async () => {
    const call = a.call(b.id, 'test.wait', {}, { timeoutMs: 1000 });
    await waitFor(() => a.rpc.pendingCount === 1, 'the call to be pending');
    clock.advance(999);
    await tick();
    expect(a.rpc.pendingCount).to.equal(1);
    clock.advance(1);
    const error = await rejectionOf(call);
    expect(error.code).to.equal('ERR_RPC_TIMEOUT');
    await waitFor(() => aborted === 1, 'the callee to see the cancellation');
  });

  it('aborts a call through its AbortSignal with ERR_ABORTED and cancels it remotely', async () => {
    const controller = new AbortController();
    const call = a.call(b.id, 'test.wait', {}, { signal: controller.signal });
    await tick();
    controller.abort();
    expect((await rejectionOf(call)).code).to.equal('ERR_ABORTED');
    await waitFor(() => aborted === 1, 'the callee to see the cancellation');
    expect((await rejectionOf(a.call(b.id, 'test.wait', {}, { signal: controller.signal }))).code).to.equal('ERR_ABORTED');
  });

  it('streams a 5 MiB payload each way in chunks below the transport maximum, reporting progress', async () => {
    const data = new Uint8Array(5 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 997) data[i] = i % 251;
    const progress: number[] = [];
    const result = await a.call(b.id, 'test.echo', { data }, { onProgress: ({ received, total }) => progress.push(received / total) });
    expect(result.length).to.equal(data.byteLength);
    expect(result.data.byteLength).to.equal(data.byteLength);
    for (let i = 0; i < data.length; i += 997) if (result.data[i] !== data[i]) throw new Error(`byte ${i} differs`);
    expect(progress.length).to.be.greaterThan(100);
    expect(progress).to.deep.equal([...progress].sort((x, y) => x - y));
  });

  it('calls its own handlers without a network hop', async () => {
    b.rpc.handle('test.echo', ({ data }) => ({ data, length: -1 }));
    expect((await b.call(b.id, 'test.echo', { data: new Uint8Array(3) })).length).to.equal(-1);
  });

  it('fails a call to a peer it has no link to with ERR_PEER_UNREACHABLE', async () => {
    expect((await rejectionOf(a.call('c'.repeat(32), 'peer.ping', { sentAt: 0 }))).code).to.equal('ERR_PEER_UNREACHABLE');
  });

  it('fails calls after the peer stopped with ERR_NOT_CONNECTED', async () => {
    const pending = a.call(b.id, 'test.wait', {});
    await tick();
    await a.stop();
    expect((await rejectionOf(pending)).code).to.equal('ERR_NOT_CONNECTED');
    expect((await rejectionOf(a.call(b.id, 'peer.ping', { sentAt: 0 }))).code).to.equal('ERR_NOT_CONNECTED');
  });
});

describe('RPC endpoint', () => {
  function pair(deliver: (to: 'x' | 'y', frame: RpcFrame) => void) {
    const clock = new ManualClock();
    const logger = createLogger('rpc-test', collectLogs().sink);
    const x: Rpc = new Rpc({ self: 'x', clock, logger, send: async (to, frame) => deliver(to as 'x' | 'y', frame) });
    const y: Rpc = new Rpc({ self: 'y', clock, logger, send: async (to, frame) => deliver(to as 'x' | 'y', frame) });
    return { x, y };
  }

  it('executes a duplicated request once and ignores the duplicate answer', async () => {
    let runs = 0;
    const endpoints = pair((to, frame) => {
      const target = to === 'x' ? endpoints.x : endpoints.y;
      const from = to === 'x' ? 'y' : 'x';
      queueMicrotask(() => {
        target.receive(from, frame);
        target.receive(from, frame);
      });
    });
    endpoints.y.handle('peer.ping', ({ sentAt }) => {
      runs++;
      return { sentAt, peer: 'y' };
    });
    expect(await endpoints.x.call('y', 'peer.ping', { sentAt: 3 })).to.deep.equal({ sentAt: 3, peer: 'y' });
    await tick();
    expect(runs).to.equal(1);
  });

  it('ignores an answer that comes from a peer other than the callee', async () => {
    const frames: RpcFrame[] = [];
    const { x } = pair((_to, frame) => frames.push(frame));
    const call = x.call('y', 'peer.ping', { sentAt: 1 }, { timeoutMs: 50 });
    await tick();
    const request = frames[0] as Extract<RpcFrame, { t: 'req' }>;
    x.receive('mallory', { t: 'res', id: request.id, r: { sentAt: 1, peer: 'mallory' } });
    expect(x.pendingCount).to.equal(1);
    x.receive('y', { t: 'res', id: request.id, r: { sentAt: 1, peer: 'y' } });
    expect((await call).peer).to.equal('y');
  });
  describe('when the path to the callee changes', () => {
    /** x calls y; `lose` decides which frames vanish with a link; `fail` which sends reject. */
    function lossy(lose: (frame: RpcFrame, n: number) => boolean, fail: (frame: RpcFrame, n: number) => boolean = () => false) {
      let n = 0;
      const endpoints = pair((to, frame) => {
        const i = n++;
        if (fail(frame, i)) throw new Error('link closed');
        if (lose(frame, i)) return;
        const target = to === 'x' ? endpoints.x : endpoints.y;
        queueMicrotask(() => target.receive(to === 'x' ? 'y' : 'x', frame));
      });
      let runs = 0;
      endpoints.y.handle('peer.ping', ({ sentAt }) => {
        runs++;
        return { sentAt, peer: 'y' };
      });
      return { ...endpoints, runs: () => runs };
    }

    it('sends a request lost with a link again, and it runs once', async () => {
      const { x, runs } = lossy((frame, i) => frame.t === 'req' && i === 0);
      const call = x.call('y', 'peer.ping', { sentAt: 7 });
      await tick();
      expect(x.pendingCount).to.equal(1);
      x.resend('y');
      expect(await call).to.deep.equal({ sentAt: 7, peer: 'y' });
      expect(runs()).to.equal(1);
    });

    it('answers a repeat of an answered request with the answer it kept, without running it again', async () => {
      const { x, runs } = lossy((frame, i) => frame.t === 'res' && i === 1);
      const call = x.call('y', 'peer.ping', { sentAt: 8 });
      await tick();
      expect(runs()).to.equal(1);
      expect(x.pendingCount).to.equal(1);
      x.resend('y');
      expect(await call).to.deep.equal({ sentAt: 8, peer: 'y' });
      expect(runs()).to.equal(1);
    });

    it('does not fail a call sent again when the lost attempt\'s send fails afterwards', async () => {
      const clock = new ManualClock();
      const logger = createLogger('rpc-test', collectLogs().sink);
      let rejectFirst: (error: Error) => void = () => {};
      let sends = 0;
      const x: Rpc = new Rpc({
        self: 'x', clock, logger,
        send: (_to, frame) => {
          // The first attempt waits on a link that then closes.
          if (sends++ === 0) return new Promise<void>((_resolve, reject) => (rejectFirst = reject));
          queueMicrotask(() => y.receive('x', frame));
          return Promise.resolve();
        },
      });
      const y: Rpc = new Rpc({ self: 'y', clock, logger, send: async (_to, frame) => queueMicrotask(() => x.receive('y', frame)) });
      y.handle('peer.ping', ({ sentAt }) => ({ sentAt, peer: 'y' }));
      const call = x.call('y', 'peer.ping', { sentAt: 9 });
      x.resend('y');
      rejectFirst(new Error('link closed'));
      expect(await call).to.deep.equal({ sentAt: 9, peer: 'y' });
    });

    it('keeps no large binary answer: a repeat of it goes unanswered and the caller\'s time limit stands', async () => {
      const clock = new ManualClock();
      const logger = createLogger('rpc-test', collectLogs().sink);
      let n = 0;
      const x: Rpc = new Rpc({ self: 'x', clock, logger, send: async (_to, frame) => queueMicrotask(() => y.receive('x', frame)) });
      const y: Rpc = new Rpc({
        self: 'y', clock, logger,
        send: async (_to, frame) => {
          if (n++ === 0) return; // the first answer is lost with its link
          queueMicrotask(() => x.receive('y', frame));
        },
      });
      y.handle('test.echo', ({ data }) => ({ data, length: data.byteLength }));
      const big = x.call('y', 'test.echo', { data: new Uint8Array(100_000) }, { timeoutMs: 1000 });
      await tick();
      x.resend('y');
      await tick();
      expect(x.pendingCount).to.equal(1);
      clock.advance(1000);
      expect((await rejectionOf(big)).code).to.equal('ERR_RPC_TIMEOUT');
      // A small answer is kept and comes again.
      n = 0;
      const small = x.call('y', 'test.echo', { data: new Uint8Array(10) });
      await tick();
      x.resend('y');
      expect((await small).length).to.equal(10);
    });
  });
});
