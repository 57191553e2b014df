/**
 * The command-line parsing shared by the `liquidmesh` commands, on `node:util`'s
 * `parseArgs`: positionals, `--flag`, `--name value` and `--name=value`, repeatable
 * options. Unknown options are refused, so a typo fails loudly instead of being ignored.
 * `parseArgs` runs non-strict with tokens so that the usage errors keep their wording
 * and exit code, and so that a word starting with a single `-` (a negative number) stays
 * a positional, as the commands have always read it.
 */
import { parseArgs as parseNodeArgs } from 'node:util';
import { CliError } from './cli-error.ts';

/** What a command accepts: options that take a value, and boolean flags. */
export interface ArgSpec {
  values?: readonly string[];
  flags?: readonly string[];
  /** Options that may repeat (subset of `values`). */
  repeat?: readonly string[];
}

/** Parsed arguments. */
export interface ParsedArgs {
  positionals: string[];
  /** Last value of each single-valued option. */
  values: Record<string, string>;
  /** Every value of each repeatable option. */
  lists: Record<string, string[]>;
  flags: Set<string>;
}

/** Parse `argv` against `spec`; throws {@link CliError} (exit code 2) on bad usage. */
export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const flags = new Set(spec.flags ?? []);
  const values = new Set(spec.values ?? []);
  const repeat = new Set(spec.repeat ?? []);
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const name of flags) options[name] = { type: 'boolean' };
  for (const name of values) options[name] = { type: 'string', multiple: true };
  const { tokens } = parseNodeArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const out: ParsedArgs = { positionals: [], values: {}, lists: {}, flags: new Set() };
  let lastShort = -1;
  for (const token of tokens) {
    if (token.kind === 'positional') out.positionals.push(token.value);
    if (token.kind !== 'option') continue;
    if (!token.rawName.startsWith('--')) {
      // A short group (`-5`, `-ab`) is one argument split into several tokens: keep it whole.
      if (token.index !== lastShort) out.positionals.push(argv[token.index]!);
      lastShort = token.index;
      continue;
    }
    const name = token.name;
    if (flags.has(name)) {
      if (token.value !== undefined) throw new CliError('ERR_USAGE', `--${name} takes no value`);
      out.flags.add(name);
      continue;
    }
    if (!values.has(name)) throw new CliError('ERR_USAGE', `unknown option --${name}`);
    if (token.value === undefined) throw new CliError('ERR_USAGE', `--${name} needs a value`);
    if (repeat.has(name)) (out.lists[name] ??= []).push(token.value);
    else out.values[name] = token.value;
  }
  return out;
}

/** Split `key=value`; throws a usage error naming the option when there is no `=`. */
export function keyValue(text: string, option: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new CliError('ERR_USAGE', `${option} expects name=value, got "${text}"`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}
