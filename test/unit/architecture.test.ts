import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findCycles, importsOf, layeringViolations, rankViolations, ROOT, SHARED_RANKS, sourceFiles, undocumentedExports, workerOnlyGlobals } from '../architecture/imports.ts';

const run = promisify(execFile);

describe('Architecture', () => {
  const files = sourceFiles();

  it('has no import cycles', () => {
    expect(findCycles(files)).to.deep.equal([]);
  });

  it('finds a cycle when there is one (the checker itself works)', () => {
    const dir = mkdtempSync(join(ROOT, 'test', '.cycle-'));
    try {
      const rel = dir.slice(ROOT.length + 1);
      writeFileSync(join(dir, 'a.ts'), "import { b } from './b.ts';\nexport const a = b;\n");
      writeFileSync(join(dir, 'b.ts'), "import type { a } from './a.ts';\nexport const b = 1 as unknown as typeof a;\n");
      expect(findCycles([`${rel}/a.ts`, `${rel}/b.ts`])).to.deep.equal([[`${rel}/a.ts`, `${rel}/b.ts`]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps shared/ free of other layers, Node built-ins and unlisted packages', () => {
    expect(layeringViolations(files)).to.deep.equal([]);
  });

  it('keeps every import in shared/ at its own folder rank or below', () => {
    expect(rankViolations(files.filter((f) => f.startsWith('shared/')).flatMap(importsOf))).to.deep.equal([]);
  });

  it('gives every folder of shared/ a rank', () => {
    const folders = new Set(files.filter((f) => f.startsWith('shared/')).map((f) => (f.split('/').length > 2 ? f.split('/')[1]! : '.')));
    expect([...folders].filter((f) => !SHARED_RANKS.some((rank) => rank.includes(f)))).to.deep.equal([]);
  });

  it('reports an upward import in shared/ (the rank check itself works)', () => {
    const upward = { from: 'shared/sandbox/topics.ts', specifier: '../orchestrator/manifest.ts', to: 'shared/orchestrator/manifest.ts' };
    expect(rankViolations([upward])).to.deep.equal([
      'shared/sandbox/topics.ts imports ../orchestrator/manifest.ts: shared/orchestrator/ (rank 7) is above shared/sandbox/ (rank 5)',
    ]);
    const rootUp = { from: 'shared/bytes.ts', specifier: './mesh/peer.ts', to: 'shared/mesh/peer.ts' };
    expect(rankViolations([rootUp])).to.have.length(1);
    // Downward and same-rank imports, and packages, pass.
    expect(
      rankViolations([
        { from: 'shared/orchestrator/plan.ts', specifier: '../registry/schema.ts', to: 'shared/registry/schema.ts' },
        { from: 'shared/rpc/methods.ts', specifier: '../registry/schema.ts', to: 'shared/registry/schema.ts' },
        { from: 'shared/system-clock.ts', specifier: './ports/clock.ts', to: 'shared/ports/clock.ts' },
        { from: 'shared/registry/sync.ts', specifier: 'yjs' },
      ]),
    ).to.deep.equal([]);
  });

  it('reports a real file that imports upward', () => {
    const dir = mkdtempSync(join(ROOT, 'test', '.rank-'));
    try {
      const rel = dir.slice(ROOT.length + 1);
      writeFileSync(join(dir, 'probe.ts'), "import { Orchestrator } from '../../shared/orchestrator/orchestrator.ts';\nexport const o = Orchestrator;\n");
      // The probe is read from disk as if it sat in shared/wasm/: its import resolves to shared/orchestrator/.
      const [edge] = importsOf(`${rel}/probe.ts`);
      expect(rankViolations([{ ...edge!, from: 'shared/wasm/probe.ts' }])).to.deep.equal([
        'shared/wasm/probe.ts imports ../../shared/orchestrator/orchestrator.ts: shared/orchestrator/ (rank 7) is above shared/wasm/ (rank 1)',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a folder of shared/ that has no rank', () => {
    expect(rankViolations([{ from: 'shared/unranked/x.ts', specifier: '../errors.ts', to: 'shared/errors.ts' }])).to.deep.equal([
      'shared/unranked/x.ts: shared/unranked/ has no rank; give it one in SHARED_RANKS (test/architecture/imports.ts)',
    ]);
  });

  it('keeps worker-only globals out of shared/', () => {
    expect(workerOnlyGlobals(files)).to.deep.equal([]);
  });

  it('documents every export of shared/ with TSDoc', () => {
    expect(undocumentedExports(files)).to.deep.equal([]);
  });

  it('fails to compile shared/ code that touches the DOM or Node', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lm-probe-'));
    try {
      writeFileSync(join(dir, 'probe.ts'), 'export const title = document.title;\nexport const env = process.env;\nexport const buf = Buffer.from([]);\n');
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: join(ROOT, 'shared/tsconfig.json'), include: [join(dir, 'probe.ts')] }));
      const error = await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.json')]).then(
        () => null,
        (e: { stdout: string }) => e,
      );
      expect(error, 'the probe compiled').to.not.equal(null);
      expect(error!.stdout).to.match(/Cannot find name 'document'/);
      expect(error!.stdout).to.match(/Cannot find name 'process'/);
      expect(error!.stdout).to.match(/Cannot find name 'Buffer'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
