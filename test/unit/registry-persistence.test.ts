import { expect } from 'chai';
import { createLogger } from '../../shared/log.ts';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { Peer, Y } from '../../shared/mesh/peer.ts';
import type { KeyValueStore, PeerStore } from '../../shared/ports/key-value-store.ts';
import { REGISTRY_STATE_KEY } from '../../shared/registry/persistence.ts';
import type { DeploymentRecord, ModuleRecord } from '../../shared/registry/schema.ts';
import { tick, waitFor } from '../acceptance/wait.ts';
import { type CollectedLog, collectLogs, createMesh, type Mesh, memoryStore } from '../helpers/mesh.ts';

/** A KeyValueStore that counts writes of the registry state. */
class CountingKeyValueStore implements KeyValueStore {
  readonly #inner: KeyValueStore;
  registryWrites = 0;

  constructor(inner: KeyValueStore) {
    this.#inner = inner;
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#inner.get(key);
  }

  set(key: string, value: Uint8Array): Promise<void> {
    if (key === REGISTRY_STATE_KEY) this.registryWrites++;
    return this.#inner.set(key, value);
  }

  delete(key: string): Promise<boolean> {
    return this.#inner.delete(key);
  }

  keys(prefix?: string): Promise<string[]> {
    return this.#inner.keys(prefix);
  }
}

/** A peer with no network at all: whatever its registry holds came from its store. */
function offlinePeer(store: PeerStore, options: { clock?: ManualClock; log?: CollectedLog; persistRegistry?: boolean } = {}): Peer {
  return new Peer({
    transports: [],
    store,
    clock: options.clock ?? new ManualClock(),
    device: { name: 'offline', engine: 'node' },
    logger: createLogger('peer:offline', (options.log ?? collectLogs()).sink),
    ...(options.persistRegistry === undefined ? {} : { persistRegistry: options.persistRegistry }),
  });
}

function deployment(id: string, coordinator: string): DeploymentRecord {
  return { id, name: `dep-${id}`, manifest: {}, solution: {}, revision: 1, coordinator, status: 'pending', createdAt: 1, updatedAt: 1 };
}

function moduleRecord(n: number, publishedBy: string): ModuleRecord {
  return {
    id: n.toString(16).padStart(64, '0'), name: `m${n}`, version: `1.${n}.0`, size: n, exports: [], imports: [],
    functions: {}, dataFiles: {}, publishedBy, publishedAt: n,
  };
}

/** The registry JSON held in a store, as a fresh document would see it. */
async function storedRegistry(kv: KeyValueStore): Promise<Record<string, unknown> | undefined> {
  const bytes = await kv.get(REGISTRY_STATE_KEY);
  if (!bytes) return undefined;
  const doc = new Y.Doc();
  Y.applyUpdate(doc, bytes);
  // A document lists only the maps asked for by name.
  for (const name of ['devices', 'modules', 'deployments']) doc.getMap(name);
  return doc.toJSON();
}

describe('Registry persistence', () => {
  let mesh: Mesh | undefined;
  const started: Peer[] = [];
  afterEach(async () => {
    await mesh?.stopAll();
    mesh = undefined;
    await Promise.all(started.splice(0).map((p) => p.stop()));
  });

  it('a restarted peer with no network shows the registry it had, right after start', async () => {
    mesh = await createMesh(['alpha', 'bravo']);
    const [alpha, bravo] = mesh.peers as [Peer, Peer];
    await waitFor(() => alpha.registry.devices.get(bravo.id) !== undefined, 'alpha to learn of bravo');
    alpha.registry.deployments.put(deployment('dep-1', alpha.id));
    alpha.registry.deployments.setPhase('dep-1', '0', alpha.id, { phase: 'ready', at: 2, revision: 1 });
    alpha.registry.modules.set(moduleRecord(7, alpha.id));
    const alphaId = alpha.id;
    const bravoId = bravo.id;
    await alpha.stop();

    const restarted = offlinePeer(alpha.store);
    started.push(restarted);
    await restarted.start();
    expect(restarted.id).to.equal(alphaId);
    expect(restarted.linked()).to.deep.equal([]);
    expect(restarted.registry.deployments.get('dep-1')?.phases[`0/${alphaId}`]?.phase).to.equal('ready');
    expect(restarted.registry.modules.get(moduleRecord(7, alphaId).id)?.name).to.equal('m7');
    expect(restarted.registry.devices.get(bravoId)?.name).to.equal('bravo');
    // Its own description is the new one, not the stored one.
    expect(restarted.registry.devices.get(alphaId)?.name).to.equal('offline');
  });

  it('starts with an empty registry and logs a warning when the stored state is corrupt', async () => {
    const store = memoryStore();
    await store.kv.set(REGISTRY_STATE_KEY, new Uint8Array([255, 1, 2, 3, 4]));
    const log = collectLogs();
    const peer = offlinePeer(store, { log });
    started.push(peer);
    await peer.start();
    expect(peer.registry.devices.keys()).to.deep.equal([peer.id]);
    expect(peer.registry.modules.values()).to.deep.equal([]);
    expect(peer.registry.deployments.values()).to.deep.equal([]);
    expect(log.lines.some((l) => l.level === 'warn' && l.text.includes('ignoring the stored registry state'))).to.equal(true);

    // The next save replaces the corrupt value with a readable one.
    await peer.stop();
    expect(Object.keys((await storedRegistry(store.kv))?.devices as object)).to.deep.equal([peer.id]);
  });

  it('also ignores a stored state that is a valid update but not a whole document', async () => {
    const source = new Y.Doc();
    source.getMap('modules').set('a', 1);
    const before = Y.encodeStateVector(source);
    source.getMap('modules').set('b', 2);
    const store = memoryStore();
    // Only the second change: it builds on content the update does not carry.
    await store.kv.set(REGISTRY_STATE_KEY, Y.encodeStateAsUpdate(source, before));
    const log = collectLogs();
    const peer = offlinePeer(store, { log });
    started.push(peer);
    await peer.start();
    expect(peer.registry.doc.getMap('modules').size).to.equal(0);
    expect(log.lines.some((l) => l.level === 'warn' && l.text.includes('ignoring the stored registry state'))).to.equal(true);
  });

  it('writes the registry a few times, not once per change, while it changes constantly', async () => {
    const clock = new ManualClock();
    const kv = new CountingKeyValueStore(memoryStore().kv);
    const peer = offlinePeer({ blobs: memoryStore().blobs, kv }, { clock });
    started.push(peer);
    await peer.start();
    const changes = 200;
    for (let n = 0; n < changes; n++) {
      peer.registry.modules.set(moduleRecord(n, peer.id));
      clock.advance(25);
      await tick();
    }
    // Saved while it kept changing, without waiting for a pause or a stop.
    expect(kv.registryWrites).to.be.greaterThan(0);
    clock.advance(10_000);
    await tick();
    expect(kv.registryWrites).to.be.lessThan(changes / 20);
    const stored = await storedRegistry(kv);
    expect(Object.keys(stored?.modules as object)).to.have.length(changes);

    // Quiet time writes nothing more.
    const writes = kv.registryWrites;
    clock.advance(60_000);
    await tick();
    expect(kv.registryWrites).to.equal(writes);
  });

  it('saves the last change on stop, even before the debounce would have', async () => {
    const clock = new ManualClock();
    const kv = new CountingKeyValueStore(memoryStore().kv);
    const store = { blobs: memoryStore().blobs, kv };
    const peer = offlinePeer(store, { clock });
    await peer.start();
    clock.advance(60_000);
    await tick();
    const writes = kv.registryWrites;
    peer.registry.deployments.put(deployment('last-minute', peer.id));
    await tick();
    expect(kv.registryWrites).to.equal(writes);
    await peer.stop();
    expect(kv.registryWrites).to.equal(writes + 1);

    const restarted = offlinePeer(store);
    started.push(restarted);
    await restarted.start();
    expect(restarted.registry.deployments.get('last-minute')?.record.coordinator).to.equal(peer.id);
  });

  it('hands the loaded registry to peers it links to later, through sync', async () => {
    const store = memoryStore();
    const first = offlinePeer(store);
    await first.start();
    first.registry.deployments.put(deployment('from-before', first.id));
    await first.stop();

    mesh = await createMesh(['fresh']);
    const [fresh] = mesh.peers as [Peer];
    const back = await mesh.add('back', store);
    await waitFor(() => fresh.registry.deployments.get('from-before') !== undefined, 'the stored deployment to reach the fresh peer');
    await waitFor(() => back.registry.devices.get(fresh.id) !== undefined, 'the restarted peer to learn of the fresh one');
    expect(fresh.registry.devices.get(back.id)?.name).to.equal('back');
  });

  it('keeps nothing when persistRegistry is false', async () => {
    const store = memoryStore();
    const peer = offlinePeer(store, { persistRegistry: false });
    await peer.start();
    peer.registry.deployments.put(deployment('forgotten', peer.id));
    await peer.stop();
    expect(await store.kv.get(REGISTRY_STATE_KEY)).to.equal(undefined);

    const restarted = offlinePeer(store, { persistRegistry: false });
    started.push(restarted);
    await restarted.start();
    expect(restarted.registry.deployments.get('forgotten')).to.equal(undefined);
  });

  it('keeps what was created just before a crash, long before the debounced save', async () => {
    const clock = new ManualClock();
    const kv = new CountingKeyValueStore(memoryStore().kv);
    const store = { blobs: memoryStore().blobs, kv };
    const peer = offlinePeer(store, { clock });
    started.push(peer);
    await peer.start();
    clock.advance(60_000);
    await tick();
    const writes = kv.registryWrites;
    peer.registry.modules.set(moduleRecord(1, peer.id));
    peer.registry.deployments.put(deployment('just-made', peer.id));
    await peer.registrySaved();
    // No full save yet: the peer now dies without stopping (nothing flushed).
    expect(kv.registryWrites).to.equal(writes);

    const restarted = offlinePeer(store);
    started.push(restarted);
    await restarted.start();
    expect(restarted.registry.deployments.get('just-made')?.record.coordinator).to.equal(peer.id);
    expect(restarted.registry.modules.get(moduleRecord(1, peer.id).id)?.name).to.equal('m1');
  });

  it('folds the log into the next full save, and a damaged log entry costs only the changes after the one before it', async () => {
    const clock = new ManualClock();
    const store = memoryStore();
    const peer = offlinePeer(store, { clock });
    started.push(peer);
    await peer.start();
    peer.registry.deployments.put(deployment('saved', peer.id));
    await peer.registrySaved();
    clock.advance(10_000);
    await tick();
    await peer.registrySaved();
    expect(await store.kv.keys(`${REGISTRY_STATE_KEY}/log/`)).to.deep.equal([]);

    for (const id of ['first', 'kept', 'lost']) {
      peer.registry.deployments.put(deployment(id, peer.id));
      await peer.registrySaved();
    }
    const log = await store.kv.keys(`${REGISTRY_STATE_KEY}/log/`);
    expect(log).to.have.length(2);
    await store.kv.set(log[1]!, new Uint8Array([0xff, 0xff, 0xff, 0x07]));

    const collected = collectLogs();
    const restarted = offlinePeer(store, { log: collected });
    started.push(restarted);
    await restarted.start();
    expect(['saved', 'first', 'kept', 'lost'].map((id) => restarted.registry.deployments.get(id) !== undefined)).to.deep.equal([true, true, true, false]);
    expect(collected.lines.some((l) => l.level === 'warn' && l.text.includes('ignoring the registry log entry'))).to.equal(true);
  });
});
