/**
 * How client commands answer: aligned tables and short sentences for people, one JSON
 * document on stdout with `--json` for scripts. Errors go to stderr for people and as
 * `{"error": {code, message, detail}}` on stdout for scripts; either way the exit code is
 * non-zero.
 */
import { CliError } from './cli-error.ts';

/** Where a command writes. */
export interface Output {
  json: boolean;
  /** The answer (a sentence or table for people). */
  say(text: string): void;
  /** The machine-readable answer (printed only with --json). */
  data(value: unknown): void;
}

/** An output writing to the process's stdout. */
export function consoleOutput(json: boolean): Output {
  return {
    json,
    say: (text) => {
      if (!json) process.stdout.write(`${text}\n`);
    },
    data: (value) => {
      if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
  };
}

/** Render rows as a table with a header, columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === undefined || c === null ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** Report a failure the way the command was asked to answer; returns the exit code. */
export function reportError(command: string, error: unknown, json: boolean): number {
  const e = error instanceof CliError ? error : new CliError('ERR_INTERNAL', (error as Error)?.message ?? String(error));
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: e.code, message: e.message, ...(e.detail !== undefined ? { detail: e.detail } : {}) } }, null, 2)}\n`);
  else process.stderr.write(`liquidmesh ${command}: ${e.message} (${e.code})\n`);
  return e.exitCode;
}
