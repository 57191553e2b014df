/**
 * The one error type the `liquidmesh` client commands throw: a stable `code`, a message a
 * person can act on, and the process exit code (2 for bad usage, 1 for everything else).
 */

/** A failed command. */
export class CliError extends Error {
  readonly code: string;
  readonly exitCode: number;
  /** Extra detail (the gateway's error body, a deployment's explanation…), shown with --json. */
  readonly detail: unknown;

  constructor(code: string, message: string, detail?: unknown) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = code === 'ERR_USAGE' ? 2 : 1;
    this.detail = detail;
  }
}
