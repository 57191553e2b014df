/**
 * An owner peer's side of registry checkpoints (ADR 0025): after the registry has been
 * quiet for a moment (or at the latest a while after a burst began), it lists the digest
 * of every entry its gate accepts as stored and signs the list as checkpoint pages
 * (`trust/checkpoint.ts`), so that a peer joining later checks one signature per page
 * instead of one or more per entry.
 * @module
 */
import * as Y from 'yjs';
import type { Logger } from '../log.ts';
import type { Clock, TimerHandle } from '../ports/clock.ts';
import { checkpointKey, CoveredDigests, DIGESTS_PER_PAGE, isCheckpointKey, MAX_PAGES } from '../trust/checkpoint.ts';
import { entryDigest } from '../trust/entry-auth.ts';
import { packDigests } from '../trust/entry-digest.ts';
import type { Registry } from './registry.ts';

const RECORD_MAPS = ['devices', 'modules', 'blacklist', 'cards', 'trust'] as const;

/**
 * Digests of every entry of `registry` that its gate accepts as stored (not a fallback),
 * checkpoint pages excluded. Empty in a registry without roles.
 */
export function acceptedDigests(registry: Registry): string[] {
  const gate = registry.gate;
  if (!gate) return [];
  const out: string[] = [];
  const take = (map: string, key: string, raw: unknown): void => {
    if (raw === undefined || isCheckpointKey(map, key)) return;
    const verdict = gate.open(map, key, raw);
    const digest = verdict.ok && verdict.entry.raw === raw ? entryDigest(map, key, raw) : '';
    if (digest !== '') out.push(digest);
  };
  for (const map of RECORD_MAPS) for (const [key, raw] of registry.doc.getMap(map).entries()) take(map, key, raw);
  for (const [id, entry] of registry.doc.getMap('deployments').entries()) {
    if (!(entry instanceof Y.Map)) continue;
    take('deployments', id, entry.get('record'));
    const phases = entry.get('phases');
    if (phases instanceof Y.Map) for (const [key, raw] of phases.entries()) take('phases', `${id}/${key}`, raw);
  }
  return out;
}

/**
 * Sign a checkpoint of `registry` now, as this peer (which must hold a root owner key of
 * the mesh, or every reader ignores the pages): pages of up to {@link DIGESTS_PER_PAGE}
 * digests, pages left over from a larger checkpoint replaced by tombstones. Returns the
 * number of entries covered.
 */
export function writeCheckpoint(registry: Registry, mesh: string, at: number): number {
  const digests = acceptedDigests(registry).sort();
  const pages = Math.min(MAX_PAGES, Math.ceil(digests.length / DIGESTS_PER_PAGE));
  registry.transact(() => {
    for (let n = 0; n < pages; n++) {
      const slice = digests.slice(n * DIGESTS_PER_PAGE, (n + 1) * DIGESTS_PER_PAGE);
      registry.trust.set({ id: checkpointKey(n), mesh, at, page: n, pages, digests: packDigests(slice) });
    }
    for (let n = pages; n < MAX_PAGES; n++) {
      if (registry.trust.get(checkpointKey(n)) === undefined) break;
      registry.trust.delete(checkpointKey(n));
    }
  });
  return Math.min(digests.length, pages * DIGESTS_PER_PAGE);
}

/** Options of a {@link Checkpointer}. */
export interface CheckpointerOptions {
  registry: Registry;
  mesh: string;
  clock: Clock;
  /** Wall clock for the checkpoint's stamp. */
  now: () => number;
  logger: Logger;
  /** Quiet time after the last change before a checkpoint (default 5 s). */
  quietMs?: number;
  /** Longest wait after the first change of a burst (default 60 s). */
  maxWaitMs?: number;
  /**
   * Entries not yet covered that make a new checkpoint worth signing (default 32): a
   * joiner verifies a few new entries quickly, and re-signing a large registry for each
   * new member would cost more than it saves.
   */
  minUncovered?: number;
}

/** Signs a new checkpoint after bursts of registry changes, when entries are not covered yet. */
export class Checkpointer {
  readonly #o: Required<CheckpointerOptions>;
  readonly #covered = new CoveredDigests();
  #timer: TimerHandle | undefined;
  #burstStarted: number | undefined;
  #off: (() => void) | undefined;

  constructor(options: CheckpointerOptions) {
    this.#o = { quietMs: 5_000, maxWaitMs: 60_000, minUncovered: 32, ...options };
  }

  /** Watch the registry from now on (a first checkpoint follows the first quiet moment). */
  start(): void {
    this.#off = this.#o.registry.on('change', () => this.#changed());
    this.#changed();
  }

  /** Stop watching; nothing more is written. */
  stop(): void {
    this.#off?.();
    this.#off = undefined;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Write a checkpoint now if at least `minUncovered` accepted entries (or, with `force`,
   * any) are not covered yet; returns whether it wrote one.
   */
  checkpointNow(force = false): boolean {
    const registry = this.#o.registry;
    const covered = this.#covered.read((id) => registry.trust.get(id));
    const uncovered = acceptedDigests(registry).filter((d) => !covered.has(d)).length;
    if (uncovered === 0 || (!force && uncovered < this.#o.minUncovered)) return false;
    const count = writeCheckpoint(registry, this.#o.mesh, this.#o.now());
    this.#o.logger.debug(`signed a registry checkpoint of ${count} entries`);
    return true;
  }

  #changed(): void {
    if (!this.#off) return;
    const clock = this.#o.clock;
    this.#burstStarted ??= clock.now();
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(this.#o.quietMs, this.#burstStarted + this.#o.maxWaitMs - clock.now()));
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      this.#burstStarted = undefined;
      try {
        this.checkpointNow();
      } catch (error) {
        this.#o.logger.warn(`could not sign a registry checkpoint: ${(error as Error).message}`);
      }
    }, wait);
  }
}
