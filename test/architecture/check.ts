/** `npm run lint`'s structural part: prints every layering problem and exits non-zero if any. */
import { findCycles, layeringViolations, sourceFiles, undocumentedExports, workerOnlyGlobals } from './imports.ts';

const files = sourceFiles();
const problems = [
  ...findCycles(files).map((c) => `import cycle: ${c.join(' -> ')}`),
  ...layeringViolations(files),
  ...workerOnlyGlobals(files).map((p) => `worker-only global in shared/: ${p}`),
  ...undocumentedExports(files).map((p) => `export without TSDoc: ${p}`),
];
for (const p of problems) console.error(p);
console.log(`checked ${files.length} files: ${problems.length} problem(s)`);
process.exitCode = problems.length > 0 ? 1 : 0;
