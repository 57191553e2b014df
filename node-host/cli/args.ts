/**
 * A small command-line parser shared by the `liquidmesh` commands: positionals, `--flag`,
 * `--name value` and `--name=value`, repeatable options. Unknown options are refused, so
 * a typo fails loudly instead of being ignored.
 */
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
  const values = new Set(spec.values ?? []);
  const flags = new Set(spec.flags ?? []);
  const repeat = new Set(spec.repeat ?? []);
  const out: ParsedArgs = { positionals: [], values: {}, lists: {}, flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (flags.has(name)) {
      if (eq >= 0) throw new CliError('ERR_USAGE', `--${name} takes no value`);
      out.flags.add(name);
      continue;
    }
    if (!values.has(name)) throw new CliError('ERR_USAGE', `unknown option --${name}`);
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new CliError('ERR_USAGE', `--${name} needs a value`);
    if (repeat.has(name)) (out.lists[name] ??= []).push(value);
    else out.values[name] = value;
  }
  return out;
}

/** Split `key=value`; throws a usage error naming the option when there is no `=`. */
export function keyValue(text: string, option: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new CliError('ERR_USAGE', `${option} expects name=value, got "${text}"`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}
