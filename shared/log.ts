/**
 * Namespaced debug logging: `liquidmesh:rpc`, `liquidmesh:registry`, … Debug lines are
 * off unless enabled with a pattern such as `liquidmesh:*` (Node reads `DEBUG`, the
 * browser `localStorage.debug`, both through {@link enableDebug}). Warnings and errors
 * always print.
 * @module
 */

/** A namespaced logger. */
export interface Logger {
  readonly namespace: string;
  debug(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  /** A logger for a sub-namespace (`liquidmesh:peer` → `liquidmesh:peer:links`). */
  child(name: string): Logger;
}

/** Where log lines go; tests pass a collecting sink. */
export interface LogSink {
  (level: 'debug' | 'warn' | 'error', namespace: string, args: unknown[]): void;
}

// Process-wide settings, not per-peer state: which namespaces print debug lines.
let enabled: RegExp[] = [];

/** Enable debug output for a comma-separated list of patterns with `*` wildcards. */
export function enableDebug(patterns: string | undefined): void {
  enabled = (patterns ?? '')
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((p) => new RegExp('^' + p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$'));
}

function debugEnabled(namespace: string): boolean {
  return enabled.some((re) => re.test(namespace));
}

const consoleSink: LogSink = (level, namespace, args) => {
  if (level === 'debug') console.debug(namespace, ...args);
  else if (level === 'warn') console.warn(namespace, ...args);
  else console.error(namespace, ...args);
};

/** Create a logger for `liquidmesh:<name>`. */
export function createLogger(name: string, sink: LogSink = consoleSink): Logger {
  const namespace = name.startsWith('liquidmesh') ? name : `liquidmesh:${name}`;
  return {
    namespace,
    debug: (...args) => {
      if (debugEnabled(namespace)) sink('debug', namespace, args);
    },
    warn: (...args) => sink('warn', namespace, args),
    error: (...args) => sink('error', namespace, args),
    child: (child) => createLogger(`${namespace}:${child}`, sink),
  };
}
