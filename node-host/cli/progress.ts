/**
 * Progress on the terminal: a bar redrawn in place on an interactive stderr, a few
 * milestone lines when stderr is a pipe or a file (logs stay readable), nothing with
 * `--json` (stdout then carries only the machine-readable answer).
 */
import { formatBytes } from '../../shared/bytes.ts';

/** Where progress goes. */
export interface ProgressSink {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/** How a bar reports. */
export type ProgressMode = 'bar' | 'lines' | 'silent';

/** The mode for a command: silent with --json, a bar on a terminal, lines otherwise. */
export function progressMode(json: boolean, sink: ProgressSink = process.stderr): ProgressMode {
  if (json) return 'silent';
  return sink.isTTY ? 'bar' : 'lines';
}

/** One progress bar. */
export class ProgressBar {
  readonly #label: string;
  readonly #mode: ProgressMode;
  readonly #sink: ProgressSink;
  readonly #unit: 'bytes' | 'count';
  #lastQuarter = -1;
  #done = false;

  constructor(label: string, options: { mode: ProgressMode; unit?: 'bytes' | 'count'; sink?: ProgressSink }) {
    this.#label = label;
    this.#mode = options.mode;
    this.#unit = options.unit ?? 'bytes';
    this.#sink = options.sink ?? process.stderr;
  }

  /** Report `current` of `total`, with an optional note after the figures. */
  update(current: number, total: number, note = ''): void {
    if (this.#done || this.#mode === 'silent') return;
    const fraction = total > 0 ? Math.min(1, current / total) : 0;
    const figures = this.#unit === 'bytes' ? `${formatBytes(current)}/${formatBytes(total)}` : `${current}/${total}`;
    if (this.#mode === 'bar') {
      const width = Math.max(10, Math.min(30, (this.#sink.columns ?? 80) - this.#label.length - figures.length - note.length - 14));
      const filled = Math.round(fraction * width);
      const line = `${this.#label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}% ${figures}${note ? ` ${note}` : ''}`;
      this.#sink.write(`\r\x1b[2K${line}`);
      return;
    }
    // Lines: one at 0 %, 25 %, 50 %, 75 % and 100 % at most.
    const quarter = Math.floor(fraction * 4);
    if (quarter > this.#lastQuarter) {
      this.#lastQuarter = quarter;
      this.#sink.write(`${this.#label}: ${Math.round(fraction * 100)}% ${figures}${note ? ` ${note}` : ''}\n`);
    }
  }

  /** Finish the bar with a closing note. */
  done(note: string): void {
    if (this.#done || this.#mode === 'silent') return;
    this.#done = true;
    this.#sink.write(this.#mode === 'bar' ? `\r\x1b[2K${this.#label}: ${note}\n` : `${this.#label}: ${note}\n`);
  }
}
