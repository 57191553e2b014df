// The placement solver: filters with their reasons, scoring preferences, pins,
// exclusions, anti-affinity and determinism.
import { describe, expect, it } from 'vitest';
import { type PlacementCandidate, type PlacementOptions, type PlacementStep, place } from '../../shared/orchestrator/placement.ts';
import type { Telemetry } from '../../shared/registry/presence.ts';
import { checkDevice, type DeviceDescription } from '../../shared/registry/schema.ts';
import { OFFER_EVERYTHING } from '../helpers/policies.ts';

const MiB = 1024 * 1024;
const WASI = 'wasi_snapshot_preview1';
const BLOB_A = 'a'.repeat(64);
const BLOB_B = 'b'.repeat(64);

/** A valid device description; `n` makes its 32-hex-digit id (ids sort as `n` does). */
function device(n: number, overrides: Partial<DeviceDescription> = {}): DeviceDescription {
  const d: DeviceDescription = {
    id: n.toString(16).padStart(32, '0'),
    name: `dev-${n}`,
    engine: 'node',
    publicKey: n.toString(16).padStart(2, '0').repeat(32),
    platform: { cpu: { humanReadableName: 'Cortex-A72', cores: 4, clockSpeedHz: 1.5e9 }, memory: { bytes: 1024 * MiB } },
    capabilities: [`${WASI}.*`, 'sys.millis', 'sys.println'],
    // Owners who offer all their devices can serve: these tests are about the other filters.
    policy: OFFER_EVERYTHING,
    version: '0.1.0',
    startedAt: 1_700_000_000_000,
    ...overrides,
  };
  const checked = checkDevice(d);
  if (!checked.ok) throw new Error(`bad fixture: ${checked.error}`);
  return d;
}

function candidate(n: number, options: { device?: Partial<DeviceDescription>; alive?: boolean; telemetry?: Partial<Telemetry>; holds?: string[] } = {}): PlacementCandidate {
  return {
    device: device(n, options.device),
    alive: options.alive ?? true,
    telemetry: { cpu: 0.1, memory: 0.1, callsPerSecond: 0, ...options.telemetry },
    holds: new Set(options.holds ?? []),
  };
}

function step(index: number, overrides: Partial<PlacementStep> = {}): PlacementStep {
  return {
    index,
    moduleId: 'c'.repeat(64),
    moduleName: `mod${index}`,
    imports: [`${WASI}.fd_write`],
    memoryBytes: 2 * MiB,
    pin: null,
    blobs: [],
    ...overrides,
  };
}

const idOf = (n: number): string => device(n).id;

/** Run `f`, expecting a MeshError; return it. */
function thrown(f: () => unknown): { code: string; message: string; data: unknown } {
  try {
    f();
  } catch (error) {
    return error as { code: string; message: string; data: unknown };
  }
  throw new Error('expected an error');
}

describe('place: filters', () => {
  it('rejects candidates with a reason each and explains every verdict', () => {
    const candidates = [
      candidate(1, { alive: false }),
      candidate(2, { device: { capabilities: ['sys.*'] } }),
      candidate(3, { device: { platform: { cpu: { humanReadableName: 'esp32', cores: 1 }, memory: { bytes: 32 * MiB } } } }),
      candidate(4, { device: { engine: 'browser' } }),
      candidate(5),
    ];
    const steps = [step(0, { imports: [`${WASI}.fd_write`, 'camera.takeImageStaticSize'], memoryBytes: 64 * MiB })];
    const withCamera = candidates.map((c) => ({ ...c, device: { ...c.device, capabilities: [...c.device.capabilities, 'camera.*'] } }));
    withCamera[1] = candidates[1]!;
    const { solution, explanation } = place(steps, withCamera, { engines: ['node', 'chromium'] });
    expect(solution).toEqual({ '0': idOf(5) });
    const verdicts = explanation['0']!.verdicts;
    expect(verdicts.map((v) => [v.name, v.accepted, v.reasons])).toEqual([
      ['dev-1', false, ['not alive']],
      ['dev-2', false, [`cannot grant ${WASI}.fd_write`, 'cannot grant camera.takeImageStaticSize']],
      ['dev-3', false, ['needs 64 MiB of memory, has 32 MiB']],
      ['dev-4', false, ['engine browser not allowed']],
      ['dev-5', true, ['cpu 10%', 'memory 10% used of 1 GiB']],
    ]);
    expect(verdicts[4]!.score).toBeGreaterThan(0);
    expect(verdicts.slice(0, 4).every((v) => v.score === undefined)).toBe(true);
  });

  it('skips the memory check when the module declares none', () => {
    const small = candidate(1, { device: { platform: { cpu: { humanReadableName: 'esp32', cores: 1 }, memory: { bytes: 0 } } } });
    expect(place([step(0, { memoryBytes: 0 })], [small]).solution).toEqual({ '0': idOf(1) });
  });

  it('throws ERR_NO_PLACEMENT listing why each device was refused', () => {
    const error = thrown(() => place([step(3, { moduleName: 'camera', imports: ['camera.takeImageStaticSize'] })], [candidate(1), candidate(2, { alive: false })]));
    expect(error.code).toBe('ERR_NO_PLACEMENT');
    expect(error.message).toBe('no device can host step 3 (camera): dev-1: cannot grant camera.takeImageStaticSize; dev-2: not alive, cannot grant camera.takeImageStaticSize');
    expect(error.data).toMatchObject({ step: 3, module: 'camera', rejected: [{ name: 'dev-1', accepted: false }, { name: 'dev-2', accepted: false }] });
    expect(thrown(() => place([step(0)], [])).message).toBe('no device can host step 0 (mod0): no devices known');
  });

  it('excludes peers with the given reason', () => {
    const { solution, explanation } = place([step(0)], [candidate(1), candidate(2, { telemetry: { cpu: 0.9 } })], { exclude: { [idOf(1)]: 'just failed' } });
    expect(solution['0']).toBe(idOf(2));
    expect(explanation['0']!.verdicts[0]).toEqual({ peer: idOf(1), name: 'dev-1', accepted: false, reasons: ['excluded: just failed'] });
    expect(() => place([step(0)], [candidate(1)], { exclude: { [idOf(1)]: 'draining' } })).toThrow('dev-1: excluded: draining');
  });
});

describe('place: pins', () => {
  const candidates = [candidate(1, { telemetry: { cpu: 0 } }), candidate(2, { telemetry: { cpu: 0.95 } })];

  it('places a pinned step on its device, by id or by name, even when loaded', () => {
    expect(place([step(0, { pin: idOf(2) })], candidates).solution).toEqual({ '0': idOf(2) });
    const { solution, explanation } = place([step(0, { pin: 'dev-2' })], candidates);
    expect(solution).toEqual({ '0': idOf(2) });
    expect(explanation['0']!.verdicts[0]!.reasons).toEqual(['not the pinned device']);
    expect(explanation['0']!.verdicts[1]!.reasons).toContain('pinned');
  });

  it('throws ERR_UNKNOWN_DEVICE for a pin naming no known device', () => {
    const error = thrown(() => place([step(0), step(1, { pin: 'kitchen-pi' })], candidates));
    expect(error.code).toBe('ERR_UNKNOWN_DEVICE');
    expect(error.message).toContain('"kitchen-pi"');
    expect(error.data).toMatchObject({ step: 1, device: 'kitchen-pi' });
  });

  it('throws ERR_NO_PLACEMENT when the pinned device fails a filter', () => {
    const error = thrown(() => place([step(0, { pin: 'dev-2' })], [candidates[0]!, candidate(2, { alive: false })]));
    expect(error.code).toBe('ERR_NO_PLACEMENT');
    expect(error.message).toContain('dev-1: not the pinned device; dev-2: not alive');
  });
});

describe('place: scoring', () => {
  it('prefers an idle peer over a loaded one', () => {
    const { solution, explanation } = place([step(0)], [candidate(1, { telemetry: { cpu: 0.9 } }), candidate(2, { telemetry: { cpu: 0.2 } })]);
    expect(solution['0']).toBe(idOf(2));
    expect(explanation['0']!.verdicts.map((v) => v.reasons[0])).toEqual(['cpu 90%', 'cpu 20%']);
  });

  it('prefers more free memory, weighted by total memory', () => {
    const big = candidate(1, { telemetry: { memory: 0.5 }, device: { platform: { cpu: { humanReadableName: 'x', cores: 4 }, memory: { bytes: 8192 * MiB } } } });
    const small = candidate(2, { telemetry: { memory: 0 }, device: { platform: { cpu: { humanReadableName: 'x', cores: 4 }, memory: { bytes: 1024 * MiB } } } });
    expect(place([step(0)], [small, big]).solution['0']).toBe(idOf(1));
    const fullBig = { ...big, telemetry: { cpu: 0.1, memory: 0.99, callsPerSecond: 0 } };
    expect(place([step(0)], [small, fullBig]).solution['0']).toBe(idOf(2));
  });

  it('prefers a peer that already holds the blobs', () => {
    const s = step(0, { blobs: [BLOB_A, BLOB_B] });
    const { solution, explanation } = place([s], [candidate(1, { holds: [BLOB_A] }), candidate(2, { holds: [BLOB_A, BLOB_B] }), candidate(3)]);
    expect(solution['0']).toBe(idOf(2));
    expect(explanation['0']!.verdicts.map((v) => v.reasons.find((r) => r.startsWith('holds')))).toEqual(['holds 1/2 blobs', 'holds 2/2 blobs', 'holds 0/2 blobs']);
  });

  it('breaks ties by the lowest peer id, and the current placement wins ties', () => {
    const candidates = [candidate(3), candidate(1), candidate(2)];
    expect(place([step(0)], candidates).solution['0']).toBe(idOf(1));
    const { solution, explanation } = place([step(0)], candidates, { current: { '0': idOf(3) } });
    expect(solution['0']).toBe(idOf(3));
    expect(explanation['0']!.verdicts[2]!.reasons).toContain('current placement');
  });

  it('keeps a step where it is unless its current peer became unfit', () => {
    const options: PlacementOptions = { current: { '0': idOf(2) } };
    const slightlyBusier = [candidate(1, { telemetry: { cpu: 0.1 } }), candidate(2, { telemetry: { cpu: 0.3 } })];
    expect(place([step(0)], slightlyBusier, options).solution['0']).toBe(idOf(2));
    const gone = [candidate(1), candidate(2, { alive: false })];
    expect(place([step(0)], gone, options).solution['0']).toBe(idOf(1));
  });

  it('co-locates steps by default and spreads them with anti-affinity', () => {
    const steps = [step(0), step(1), step(2)];
    const candidates = [candidate(1, { telemetry: { cpu: 0 } }), candidate(2, { telemetry: { cpu: 0.3 } }), candidate(3, { telemetry: { cpu: 0.5 } })];
    expect(place(steps, candidates).solution).toEqual({ '0': idOf(1), '1': idOf(1), '2': idOf(1) });
    const { solution, explanation } = place(steps, candidates, { antiAffinity: true });
    expect(solution).toEqual({ '0': idOf(1), '1': idOf(2), '2': idOf(3) });
    expect(explanation['1']!.verdicts[0]!.reasons).toContain('anti-affinity: 1 step of this deployment already here');
  });

  it('still co-locates under anti-affinity when only one peer fits', () => {
    const steps = [step(0), step(1)];
    const candidates = [candidate(1), candidate(2, { alive: false })];
    expect(place(steps, candidates, { antiAffinity: true }).solution).toEqual({ '0': idOf(1), '1': idOf(1) });
  });

  it('counts a peer without telemetry as half loaded', () => {
    const unknown: PlacementCandidate = { device: device(1), alive: true, holds: new Set() };
    const { solution, explanation } = place([step(0)], [unknown, candidate(2, { telemetry: { cpu: 0.2, memory: 0.2 } })]);
    expect(solution['0']).toBe(idOf(2));
    expect(explanation['0']!.verdicts[0]!.reasons).toEqual(['telemetry unknown', 'cpu 50%', 'memory 50% used of 1 GiB']);
  });
});

describe('place: determinism', () => {
  it('gives the same answer whatever the order of candidates and steps', () => {
    const steps = [step(0, { blobs: [BLOB_A] }), step(1), step(2, { blobs: [BLOB_B] })];
    const candidates = [
      candidate(4, { holds: [BLOB_A] }),
      candidate(1, { telemetry: { cpu: 0.4 } }),
      candidate(3, { holds: [BLOB_B], telemetry: { cpu: 0.6 } }),
      candidate(2),
    ];
    const first = place(steps, candidates, { antiAffinity: true });
    for (let rotation = 1; rotation < candidates.length; rotation++) {
      const rotated = [...candidates.slice(rotation), ...candidates.slice(0, rotation)];
      expect(place([...steps].reverse(), rotated, { antiAffinity: true })).toEqual(first);
    }
    expect(Object.keys(first.solution)).toEqual(['0', '1', '2']);
    expect(first.explanation['0']!.verdicts.map((v) => v.name)).toEqual(['dev-1', 'dev-2', 'dev-3', 'dev-4']);
  });

  it('returns an empty placement for no steps', () => {
    expect(place([], [candidate(1)])).toEqual({ solution: {}, explanation: {} });
  });
});

describe('placement in a partial mesh', () => {
  it('prefers a peer linked to the placing peer over an equal one two hops away, and says why', () => {
    const hops: Record<string, number> = { [idOf(1)]: 2, [idOf(2)]: 1 };
    const out = place([step(0)], [candidate(1), candidate(2)], { hops: (p) => hops[p] });
    expect(out.solution['0']).toBe(idOf(2));
    expect(out.explanation['0']!.verdicts.find((v) => v.peer === idOf(1))!.reasons).toContain('2 hops away');
    // Without hop figures (a full mesh) the lower id wins the tie, as before.
    expect(place([step(0)], [candidate(1), candidate(2)]).solution['0']).toBe(idOf(1));
  });

  it('still chooses a far peer when the near one is much busier', () => {
    const hops: Record<string, number> = { [idOf(1)]: 3, [idOf(2)]: 1 };
    const out = place([step(0)], [candidate(1, { telemetry: { cpu: 0 } }), candidate(2, { telemetry: { cpu: 1 } })], { hops: (p) => hops[p] });
    expect(out.solution['0']).toBe(idOf(1));
  });
});
