/**
 * Benchmark plumbing: timing helpers and the BENCHMARKS.md writer. Every figure is
 * reported next to a baseline measured in the same run, as a ratio, so numbers from
 * different machines stay comparable.
 */
import { cpus, totalmem } from 'node:os';

/** One line of the results table. */
export interface BenchRow {
  name: string;
  /** The measured figure, formatted. */
  figure: string;
  /** What it is compared with, formatted. */
  baseline: string;
  /** figure / baseline (or another stated relation). */
  ratio: string;
  /** The goal, if the design sets one. */
  goal: string;
  /** Whether the goal is met (undefined: no goal). */
  met?: boolean;
}

/** A group of benchmarks with a short explanation of method. */
export interface BenchSection {
  title: string;
  method: string;
  rows: BenchRow[];
}

/** Percentile of sorted samples. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Run `fn` `n` times (after `warmup` runs) and return sorted per-run durations in ms. */
export async function sample(n: number, fn: () => Promise<unknown> | unknown, warmup = Math.min(200, n)): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

/** Format milliseconds with a sensible unit. */
export function ms(value: number): string {
  if (value < 0.001) return `${(value * 1e6).toFixed(0)} ns`;
  if (value < 1) return `${(value * 1000).toFixed(1)} µs`;
  if (value < 1000) return `${value.toFixed(2)} ms`;
  return `${(value / 1000).toFixed(2)} s`;
}

/** Format a byte count. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** Ratio as "N.N×". */
export function times(a: number, b: number): string {
  return `${(a / b).toFixed(a / b < 10 ? 2 : 0)}×`;
}

/** The BENCHMARKS.md text for these sections. */
export function renderMarkdown(sections: BenchSection[], startedAt: Date): string {
  const cpu = cpus();
  const lines = [
    '# Benchmarks',
    '',
    'Written by `npm run bench`; each figure sits beside a baseline measured in the same run on the same machine.',
    '',
    `- Date: ${startedAt.toISOString()}`,
    `- Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB`,
    `- Node ${process.version} on ${process.platform}/${process.arch}`,
    '',
  ];
  for (const s of sections) {
    lines.push(`## ${s.title}`, '', s.method, '', '| benchmark | figure | baseline | ratio | goal |', '|---|---|---|---|---|');
    for (const r of s.rows) {
      const goal = r.goal ? `${r.goal}${r.met === undefined ? '' : r.met ? ' — met' : ' — **not met**'}` : '';
      lines.push(`| ${r.name} | ${r.figure} | ${r.baseline} | ${r.ratio} | ${goal} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * BENCHMARKS.md with `sections` put in place of the sections of the same title in
 * `previous` (new ones appended), each marked with when it was measured: a partial run
 * refreshes what it measured and keeps the rest of the last full run.
 */
export function mergeMarkdown(previous: string, sections: BenchSection[], startedAt: Date): string {
  const fresh = renderMarkdown(sections.map((s) => ({ ...s, method: `${s.method} (Measured ${startedAt.toISOString()} in a partial run.)` })), startedAt);
  const split = (text: string): { head: string; parts: Map<string, string> } => {
    const chunks = text.split(/^(?=## )/m);
    const parts = new Map<string, string>();
    for (const chunk of chunks.slice(1)) parts.set(chunk.slice(3, chunk.indexOf('\n')).trim(), chunk.endsWith('\n') ? chunk : `${chunk}\n`);
    return { head: chunks[0] ?? '', parts };
  };
  const old = split(previous);
  for (const [title, part] of split(fresh).parts) old.parts.set(title, part);
  return old.head + [...old.parts.values()].join('');
}
