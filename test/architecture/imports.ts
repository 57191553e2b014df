/**
 * Reads the project's own import graph (relative imports of .ts files) and checks the
 * layering rules: no cycles; `shared/` imports no other part of the project, no Node
 * built-ins and only allow-listed packages; inside `shared/` no import runs up the folder
 * ranks; each runtime folder stays in its lane.
 * Used by test/unit/architecture.test.ts and by `npm run lint`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Project root. */
export const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');

const SOURCE_DIRS = ['shared', 'web', 'node-host', 'sw', 'test'];
/** Packages the isomorphic core may import. */
export const SHARED_PACKAGES = ['yjs', 'y-protocols', 'lib0', '@bjorn3/browser_wasi_shim', 'peerjs', '@noble/curves', '@noble/hashes', 'fast-json-stable-stringify'];
/** Packages allowed only in some folders of `shared/` (ADR 0001): WebRTC stays in the adapter that wraps it. */
const SHARED_PACKAGE_FOLDERS: Record<string, string[]> = { peerjs: ['adapters'] };

/**
 * The folders of `shared/`, lowest rank first (docs/INTERNALS.md, ADR 0028). A file may
 * import its own rank and the ranks below, never a rank above; `.` is the files directly
 * in `shared/`. A new folder gets a rank here before anything in it is accepted.
 */
export const SHARED_RANKS: readonly (readonly string[])[] = [
  ['.', 'ports'], // base: bytes, errors, events, log, the system clock; the port interfaces
  ['wasm', 'protocol', 'identity', 'media'], // formats and keys: the wasm binary, wire frames, checks, topics, peer ids, JPEG
  ['trust'], // signatures and authority over what the formats carry
  ['registry', 'rpc'], // the replicated registry and request/response over links
  ['mesh', 'routing'], // one Peer: authenticated links, routes beyond them, RPC and registry over the transports
  ['sandbox'], // running one module instance
  ['supervisor'], // the module versions a peer hosts and the calls into them
  ['orchestrator'], // deployments, placement, chains and migration across the mesh
  ['adapters', 'memory'], // implementations of the ports, chosen when a peer is composed
  ['composition'], // the root that wires a peer together
];

/** One import statement. */
export interface ImportEdge {
  from: string;
  specifier: string;
  /** Project-relative path of the target, for relative imports. */
  to?: string;
}

/** Every .ts file under the source folders, project-relative. */
export function sourceFiles(dirs = SOURCE_DIRS): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(ROOT, dir))) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const rel = join(dir, name);
      if (statSync(join(ROOT, rel)).isDirectory()) walk(rel);
      else if (name.endsWith('.ts')) out.push(rel);
    }
  };
  for (const d of dirs) {
    try {
      walk(d);
    } catch {
      // A folder that does not exist yet has no files to check.
    }
  }
  return out.sort();
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The imports of one file. Type-only imports count: a cycle of types is still a cycle. */
export function importsOf(file: string): ImportEdge[] {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const edges: ImportEdge[] = [];
  for (const match of text.matchAll(IMPORT_RE)) {
    const specifier = (match[1] ?? match[2])!;
    const edge: ImportEdge = { from: file, specifier };
    if (specifier.startsWith('.')) edge.to = relative(ROOT, resolve(ROOT, dirname(file), specifier));
    edges.push(edge);
  }
  return edges;
}

/** Cycles in the relative-import graph, each as a list of files (empty when there are none). */
export function findCycles(files: string[]): string[][] {
  const graph = new Map<string, string[]>();
  for (const f of files) graph.set(f, importsOf(f).flatMap((e) => (e.to && graph !== undefined ? [e.to] : [])));
  // Tarjan's strongly connected components.
  let index = 0;
  const stack: string[] = [];
  const onStack = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  return cycles;
}

/** The folder of a `shared/` file for {@link SHARED_RANKS}: its first folder, or `.` for files directly in `shared/`. */
export function sharedFolder(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts[1]! : '.';
}

/** The rank of a `shared/` folder, or -1 when it has none. */
export function sharedRank(folder: string): number {
  return SHARED_RANKS.findIndex((rank) => rank.includes(folder));
}

/** Imports inside `shared/` that run up the folder ranks, and files in folders without a rank. */
export function rankViolations(edges: readonly ImportEdge[]): string[] {
  const problems = new Set<string>();
  for (const edge of edges) {
    if (!edge.from.startsWith('shared/')) continue;
    const from = sharedFolder(edge.from);
    const fromRank = sharedRank(from);
    if (fromRank < 0) {
      problems.add(`${edge.from}: shared/${from}/ has no rank; give it one in SHARED_RANKS (test/architecture/imports.ts)`);
      continue;
    }
    if (!edge.to?.startsWith('shared/')) continue;
    const to = sharedFolder(edge.to);
    const toRank = sharedRank(to);
    if (toRank > fromRank) problems.add(`${edge.from} imports ${edge.specifier}: shared/${to}/ (rank ${toRank}) is above shared/${from}/ (rank ${fromRank})`);
  }
  return [...problems];
}

/** Imports that break the layering rules, as human-readable lines. */
export function layeringViolations(files: string[]): string[] {
  const problems: string[] = rankViolations(files.filter((f) => f.startsWith('shared/')).flatMap(importsOf));
  for (const file of files) {
    const top = file.split('/')[0];
    for (const edge of importsOf(file)) {
      const target = edge.to?.split('/')[0];
      if (top === 'shared') {
        if (edge.to && target !== 'shared') problems.push(`${file} imports ${edge.specifier}: shared/ may import only shared/`);
        const pkg = edge.to ? undefined : SHARED_PACKAGES.find((p) => edge.specifier === p || edge.specifier.startsWith(`${p}/`));
        if (!edge.to && !pkg) problems.push(`${file} imports ${edge.specifier}: not a package allowed in shared/`);
        const folders = pkg ? SHARED_PACKAGE_FOLDERS[pkg] : undefined;
        if (folders && !folders.includes(sharedFolder(file))) {
          problems.push(`${file} imports ${edge.specifier}: allowed only in ${folders.map((f) => `shared/${f}/`).join(', ')}`);
        }
      }
      if ((top === 'web' || top === 'sw') && (target === 'node-host' || edge.specifier.startsWith('node:'))) {
        problems.push(`${file} imports ${edge.specifier}: browser code may not use Node code`);
      }
      if (top === 'node-host' && target === 'web') problems.push(`${file} imports ${edge.specifier}: Node code may not import browser code`);
    }
  }
  return problems;
}

/** Globals that exist in workers but not in Node or on every page; shared/ must not use them. */
const WORKER_ONLY = /\b(self\.|importScripts\s*\(|(?<![.\w])postMessage\s*\(|(?<![.\w])location\.|(?<![.\w])navigator\.)/;

/** Uses of worker-only globals in shared/. */
export function workerOnlyGlobals(files: string[]): string[] {
  const problems: string[] = [];
  for (const file of files.filter((f) => f.startsWith('shared/'))) {
    readFileSync(join(ROOT, file), 'utf8').split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      if (!code.trim().startsWith('*') && WORKER_ONLY.test(code)) problems.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return problems;
}

/** Exported declarations in shared/ without a TSDoc comment right above them. */
export function undocumentedExports(files: string[]): string[] {
  const problems: string[] = [];
  for (const file of files.filter((f) => f.startsWith('shared/'))) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!/^export (async )?(function|class|const|let|interface|type|enum|abstract class)\b/.test(line)) return;
      let j = i - 1;
      while (j >= 0 && lines[j]!.trim() === '') j--;
      if (j < 0 || !lines[j]!.trim().endsWith('*/')) problems.push(`${file}:${i + 1}: ${line.trim().slice(0, 80)}`);
    });
  }
  return problems;
}
