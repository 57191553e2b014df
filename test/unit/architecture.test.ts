import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findCycles, layeringViolations, ROOT, sourceFiles, undocumentedExports, workerOnlyGlobals } from '../architecture/imports.ts';

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
