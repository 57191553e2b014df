#!/usr/bin/env node
// Entry point of the `liquidmesh` command: runs the TypeScript CLI through tsx's loader,
// so the same sources serve development and installs without a build step.
//
// tsx would cache what it compiles in $TMPDIR/tsx-<uid>, a name any local user can
// create first and fill with code this process would then run (ADR 0019); compiling
// afresh costs nothing measurable here. Set before tsx loads: it reads it once.
process.env.TSX_DISABLE_CACHE ??= '1';
const { register } = await import('tsx/esm/api');

register();
await import('../cli.ts');
