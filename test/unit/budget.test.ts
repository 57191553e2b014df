/**
 * Budgets (shared/sandbox/budget.ts): what an instance's declarations count against a
 * peer's memory budget, and the supervisor keeping its instances within it across hot
 * updates, failed loads and undeploys. The gateway-level cases are in
 * hostile-input.test.ts; the per-instance limits in every engine in
 * test/acceptance/sandbox.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import { MemoryKeyValueStore } from '../../shared/memory/memory-key-value-store.ts';
import { budgetExcess, DEFAULT_BUDGET_LIMITS, defaultMemoryBudget, instanceFootprint, PAGE_BYTES, TABLE_ELEMENT_BYTES } from '../../shared/sandbox/budget.ts';
import { Supervisor } from '../../shared/supervisor/supervisor.ts';
import { parseModule } from '../../shared/wasm/binary.ts';
import { rejectionOf } from '../acceptance/wait.ts';
import { dataBomb, memoryModule, tableBomb } from '../helpers/hostile-wasm.ts';

const MiB = 1024 * 1024;
const footprint = (wasm: Uint8Array, cap?: number): number => instanceFootprint(parseModule(wasm), cap);

describe('instance footprint', () => {
  it('counts declared memory (the maximum when bounded, at most the cap), table elements and data bytes', () => {
    expect(footprint(memoryModule(2))).toBe(2 * PAGE_BYTES);
    expect(footprint(memoryModule(2, 10))).toBe(10 * PAGE_BYTES);
    expect(footprint(memoryModule(2, 60_000))).toBe(4096 * PAGE_BYTES);
    expect(footprint(memoryModule(2, 60_000), 8)).toBe(8 * PAGE_BYTES);
    expect(footprint(tableBomb(1000))).toBe(1000 * TABLE_ELEMENT_BYTES);
    expect(footprint(dataBomb(1000, 1))).toBe(PAGE_BYTES + 1000);
  });

  it('defaults a peer budget to half the memory a device describes, none when unknown', () => {
    expect(defaultMemoryBudget(8 * 1024 * MiB)).toBe(4 * 1024 * MiB);
    expect(defaultMemoryBudget(0)).toBe(0);
  });
});

describe('default budgets', () => {
  it('fit every sample module with a margin of ten times', () => {
    const dir = new URL('../../modules/', import.meta.url).pathname;
    const walk = (d: string): string[] => readdirSync(d).flatMap((f) => {
      const p = join(d, f);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith('.wasm') ? [p] : [];
    });
    const tenth = Object.fromEntries(Object.entries(DEFAULT_BUDGET_LIMITS).map(([k, v]) => [k, v / 10])) as typeof DEFAULT_BUDGET_LIMITS;
    const files = walk(dir);
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) expect(budgetExcess(parseModule(readFileSync(file)), tenth), file).toBeUndefined();
  });
});

describe('supervisor memory budget', () => {
  const description = { name: 'm', version: '1.0.0', functions: { ok: { method: 'GET' as const, params: [], result: { type: 'integer' as const }, mounts: [] } } };

  it('holds its instances within the budget: a hot update takes the place of the version it replaces', async () => {
    const supervisor = new Supervisor({ sandbox: createNodeSandbox(), kv: new MemoryKeyValueStore(), memoryBudgetBytes: 4 * MiB });
    try {
      await supervisor.deploy({ deploymentId: 'a', name: 'm', wasm: memoryModule(48), description });
      expect(supervisor.memoryUse()).toEqual({ budgetBytes: 4 * MiB, usedBytes: 3 * MiB });
      // Another binary of the same size under the same name: an update, not an addition.
      await supervisor.deploy({ deploymentId: 'a', name: 'm', wasm: memoryModule(48, 48), description });
      expect(supervisor.memoryUse().usedBytes).toBe(3 * MiB);
      expect((await supervisor.call('a', 'm', 'ok')).value).toBe(42);
      const over = await rejectionOf(supervisor.deploy({ deploymentId: 'b', name: 'm', wasm: memoryModule(32), description }));
      expect(over.code).toBe('ERR_MEMORY_BUDGET');
      expect(supervisor.memoryUse().usedBytes).toBe(3 * MiB);
      // A load that fails for another reason gives back what it held.
      const undescribed = { ...description, functions: { nope: description.functions.ok } };
      const bad = await rejectionOf(supervisor.deploy({ deploymentId: 'c', name: 'm', wasm: memoryModule(8), description: undescribed }));
      expect(bad.code).toBe('ERR_INVALID_PARAMS');
      expect(supervisor.memoryUse().usedBytes).toBe(3 * MiB);
      await supervisor.undeploy('a');
      expect(supervisor.memoryUse().usedBytes).toBe(0);
      await supervisor.deploy({ deploymentId: 'b', name: 'm', wasm: memoryModule(32), description });
      expect(supervisor.memoryUse().usedBytes).toBe(2 * MiB);
    } finally {
      await supervisor.stop();
    }
  });
});
