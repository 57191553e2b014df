// The coordinator when a device comes and goes while the registry merges concurrent writes.
// Two peers that saw each other as gone (a device restarted before its old link timed out)
// write the same deployment record at once, and the merge may keep the older copy: the
// deployment is back at a revision that already failed and was placed again once. The
// coordinator must place it again the second time too, and must time the new placement
// from when it was written, not from the first placement at that revision.
// Driven tick by tick on a fake clock, so the test is exact and fast.
import { expect } from 'chai';
import { createLogger } from '../../shared/log.ts';
import { Coordinator, DEFAULT_DEPLOYMENT_TIMING } from '../../shared/orchestrator/coordinator.ts';
import type { Placement } from '../../shared/orchestrator/placement.ts';
import { Registry } from '../../shared/registry/registry.ts';
import type { DeployedStep, DeploymentRecord } from '../../shared/registry/schema.ts';

const ME = 'a'.repeat(32);
const PI = 'b'.repeat(32);

const STEP: DeployedStep = { module: 'c'.repeat(64), name: 'fibo', func: 'fibo', next: [], providers: [], grants: [], pin: 'pi' };

/** A coordinator on ME on the test's clock; the step is pinned to the pi: it can go only there, and only while the pi is alive. */
function pinnedCoordinator(registry: Registry, alive: ReadonlySet<string>, clock: { now: number; wall: number }): Coordinator {
  return new Coordinator({
    self: ME,
    registry,
    alive: () => alive,
    now: () => clock.now,
    wallNow: () => ++clock.wall,
    place: (): Placement => {
      if (!alive.has(PI)) throw new Error('no device can host step 0 (fibo): pi: not alive');
      return { solution: { '0': PI }, explanation: {} };
    },
    timing: DEFAULT_DEPLOYMENT_TIMING,
    logger: createLogger('test:coordinator'),
  });
}

describe('A coordinator whose deployment comes back at a revision that already failed', () => {
  it('places it again, and gives the new placement its full time to start', () => {
    const registry = new Registry({ logger: createLogger('test:registry') });
    const alive = new Set([ME, PI]);
    const clock = { now: 1_000, wall: 1_700_000_000_000 };
    const coordinator = pinnedCoordinator(registry, alive, clock);
    const record = (): DeploymentRecord => registry.deployments.get('dep')!.record;
    const tick = (ms = 0): DeploymentRecord => {
      clock.now += ms;
      coordinator.tick();
      return record();
    };
    const ready: DeploymentRecord = {
      id: 'dep', name: 'pinned', manifest: {}, solution: { '0': PI }, revision: 1, coordinator: ME,
      status: 'ready', steps: [STEP], createdAt: clock.wall, updatedAt: clock.wall,
    };
    registry.deployments.put(ready);
    registry.deployments.setPhase('dep', '0', PI, { phase: 'ready', at: clock.now, revision: 1 });
    expect(tick().status).to.equal('ready');

    // The pi leaves: nothing else can host its step, so the deployment waits for it.
    alive.delete(PI);
    tick();
    expect(tick(DEFAULT_DEPLOYMENT_TIMING.lostAfterMs + 1)).to.include({ status: 'failed', revision: 1 });
    expect(record().waitingFor).to.deep.equal([PI]);
    // It is back: placed again at revision 2...
    alive.add(PI);
    expect(tick()).to.include({ status: 'deploying', revision: 2 });
    expect(tick()).to.include({ status: 'deploying', revision: 2 });
    // ...but a stale copy wins the merge before the pi says anything about revision 2.
    registry.deployments.put(ready);
    tick(DEFAULT_DEPLOYMENT_TIMING.startMs + 1000);

    // The pi leaves and comes back again: the same failure, at the same revision.
    alive.delete(PI);
    tick();
    expect(tick(DEFAULT_DEPLOYMENT_TIMING.lostAfterMs + 1)).to.include({ status: 'failed', revision: 1 });
    alive.add(PI);
    expect(tick(), 'placed again').to.include({ status: 'deploying', revision: 2 });
    expect(tick(1), 'not timed out by the first placement at revision 2').to.include({ status: 'deploying', revision: 2 });
    registry.deployments.setPhase('dep', '0', PI, { phase: 'ready', at: clock.now, revision: 2 });
    expect(tick(DEFAULT_DEPLOYMENT_TIMING.startMs - 100)).to.include({ status: 'ready', revision: 2 });
  });
});

describe('A coordinator that had nothing to drive while a device left', () => {
  it('times the device\'s absence from when it left, not from when a deployment first needs it', () => {
    const registry = new Registry({ logger: createLogger('test:registry') });
    registry.devices.set({
      id: PI, name: 'pi', engine: 'node', publicKey: 'd'.repeat(64),
      platform: { cpu: { humanReadableName: 'Cortex-A72', cores: 4 }, memory: { bytes: 4e9 } }, capabilities: [], version: '0.1.0', startedAt: 1,
    });
    const alive = new Set([ME, PI]);
    const clock = { now: 1_000, wall: 1_700_000_000_000 };
    const coordinator = pinnedCoordinator(registry, alive, clock);
    coordinator.tick();
    // The pi leaves while no deployment exists, and stays away past the grace for a lost peer.
    alive.delete(PI);
    coordinator.tick();
    clock.now += DEFAULT_DEPLOYMENT_TIMING.lostAfterMs + 1;
    coordinator.tick();
    // A deployment on the pi arrives (written by a peer that had not noticed): the pi is gone, at once.
    registry.deployments.put({
      id: 'dep', name: 'pinned', manifest: {}, solution: { '0': PI }, revision: 1, coordinator: ME,
      status: 'ready', steps: [STEP], createdAt: clock.wall, updatedAt: clock.wall,
    });
    coordinator.tick();
    expect(registry.deployments.get('dep')!.record).to.include({ status: 'failed', revision: 1 });
  });
});
