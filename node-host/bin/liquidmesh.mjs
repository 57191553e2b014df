#!/usr/bin/env node
// Entry point of the `liquidmesh` command. Runs the bundle compiled from the TypeScript
// sources (cli-bundle.mjs) while it matches them, else the sources themselves through
// tsx's loader, so the same sources serve development and installs without a build step;
// the bundle only makes a process lighter (ADR 0037). LIQUIDMESH_FROM_SOURCES=1 always
// runs the sources.
import { freshBundle } from './cli-bundle.mjs';

const bundle = process.env.LIQUIDMESH_FROM_SOURCES === '1' ? null : freshBundle();
if (bundle) {
  await import(bundle);
} else {
  // tsx would cache what it compiles in $TMPDIR/tsx-<uid>, a name any local user can
  // create first and fill with code this process would then run (ADR 0019); compiling
  // afresh costs nothing measurable here. Set before tsx loads: it reads it once.
  process.env.TSX_DISABLE_CACHE ??= '1';
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli.ts');
}
