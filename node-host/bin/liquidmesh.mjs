#!/usr/bin/env node
// Entry point of the `liquidmesh` command: runs the TypeScript CLI through tsx's loader,
// so the same sources serve development and installs without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../cli.ts');
