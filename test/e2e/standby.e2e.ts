// Hot standby end to end: three Node peer processes over real WebRTC. A stateful counter
// (stateful-fibo: 1, 2, 3, 5, 8, …) runs on `primary` with `replicas: 1`, so a warm copy
// is kept in sync on one of the two others. Calls are in flight — through the caller's
// orchestrator and through its HTTP gateway's WasmIoT route
// `/{deployment}/modules/{module}/{function}` — when `primary` is killed with SIGKILL.
// Every call is answered once: the answers together are the sequence with no value
// missing and none repeated, and the count goes on from the standby afterwards.
import { expect } from 'chai';
import { startSignalServer, type SignalServer } from '../../node-host/signal/signal-server.ts';
import type { DeploymentRecord } from '../../shared/registry/schema.ts';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { waitFor } from '../acceptance/wait.ts';
import { NodePeerProcess } from './harness.ts';

requireLoopbackNamespace();

/** What stateful-fibo answers, one value per call. */
const FIB = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765, 10946, 17711, 28657];
const IN_FLIGHT = 12;

describe('Hot standby across a SIGKILL', () => {
  let signal: SignalServer;
  const peers: NodePeerProcess[] = [];

  beforeAll(async () => {
    signal = await startSignalServer();
  });
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await signal?.close();
  });

  it('a killed primary with calls in flight: every call answered once, the count goes on from the standby', async () => {
    const start = (name: string, extra: string[] = []): NodePeerProcess => {
      const p = new NodePeerProcess(name, ['--signal', signal.url, '--mesh', 'standby', '--secret', 'standby-secret', ...extra]);
      peers.push(p);
      return p;
    };
    const caller = start('caller', ['--gateway-port', '0']);
    const primary = start('primary');
    const spare = start('spare');
    await Promise.all(peers.map((p) => p.ready()));
    await waitFor(async () => (await Promise.all(peers.map((p) => p.view()))).every((v) => v.alive.length === 2 && v.devices.length === 3), 'three peers that see each other', 60_000);
    const gateway = String(caller.events.find((e) => e.event === 'gateway')?.url);

    await caller.command('publish', { module: 'stateful-fibo' });
    const dep = await caller.command<DeploymentRecord>('deploy', { manifest: { name: 'counter', replicas: 1, sequence: [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'primary' }] } });
    const record = (): Promise<DeploymentRecord> => caller.command<DeploymentRecord>('deployment', { deployment: dep.id });
    await waitFor(async () => {
      const r = await record();
      return r.status === 'ready' && (r.standby?.['0']?.length ?? 0) === 1;
    }, 'the counter ready with its standby', 60_000);
    const before = await record();
    expect(before.solution['0']).to.equal(primary.id);
    const standby = before.standby!['0']![0]!;
    expect([caller.id, spare.id]).to.include(standby);

    const execute = async (): Promise<number> => (await caller.command<{ value: number }>('execute', { deployment: dep.id })).value;
    const overHttp = async (): Promise<number> => {
      const res = await fetch(`${gateway}/${dep.id}/modules/stateful-fibo/stateful_fibo`);
      const body = (await res.json()) as { value?: number; error?: unknown };
      if (res.status !== 200) throw new Error(`the gateway answered ${res.status}: ${JSON.stringify(body)}`);
      return body.value!;
    };
    const answers: number[] = [];
    // Acknowledged before the kill: their state is on the standby.
    answers.push(await execute(), await overHttp(), await execute());
    expect(answers).to.deep.equal([1, 2, 3]);

    // Calls in flight, half of them through the gateway; the primary dies under them.
    const inFlight = Array.from({ length: IN_FLIGHT }, (_, i) => (i % 2 === 0 ? execute() : overHttp()).then((v) => answers.push(v)));
    primary.kill();
    await Promise.all(inFlight);

    await waitFor(async () => (await record()).solution['0'] === standby, 'the standby recorded as the primary', 30_000);
    answers.push(await execute(), await overHttp());
    // Each call answered once: the values are the sequence, with none missing and none twice.
    expect([...answers].sort((a, b) => a - b)).to.deep.equal(FIB.slice(0, answers.length));
    const after = await record();
    expect(after.epoch).to.be.at.least(1);
    expect(after.status).to.equal('ready');
  });
});
