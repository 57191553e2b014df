/**
 * When a page leaves the mesh and comes back (the policy is ADR 0021):
 * - closed or put in the back/forward cache (`pagehide`) or frozen (`freeze`): leave at
 *   once, on every device — nothing the page does afterwards is sure to run;
 * - hidden (`visibilitychange`): a phone or tablet leaves at once (the system may freeze
 *   or kill a background tab any moment, and its steps should move while the user is
 *   elsewhere); a desktop tab leaves only after {@link DESKTOP_HIDDEN_GRACE_MS} hidden, so
 *   switching tabs or minimising a window for a while does not churn the mesh; a
 *   headless browser (a host's peer, no user to look at it) never leaves for being hidden;
 * - shown again (`visibilitychange` → visible, `pageshow`, `resume`): join again, as the
 *   same device.
 */
import type { FormFactor } from '../shared/registry/schema.ts';

/** How long a desktop tab may stay hidden before it leaves the mesh. */
export const DESKTOP_HIDDEN_GRACE_MS = 60_000;

/** What the lifecycle drives (a {@link import('./mesh-session.ts').MeshSession}). */
export interface Membership {
  join(): Promise<void>;
  leave(): Promise<void>;
}

/** Where the lifecycle events come from: a window (tests give a stand-in). */
export interface PageEvents extends EventTarget {
  readonly document: EventTarget & { readonly visibilityState: DocumentVisibilityState };
}

/** How long a hidden page of this kind of device waits before it leaves; null: never. */
export function hiddenGraceMs(formFactor: FormFactor, headless: boolean): number | null {
  if (headless) return null;
  return formFactor === 'desktop' ? DESKTOP_HIDDEN_GRACE_MS : 0;
}

/**
 * Leave and rejoin `membership` as the page is hidden, frozen, closed and shown (see the
 * file header). `graceMs` as {@link hiddenGraceMs} gives it. Returns the function that
 * stops watching.
 */
export function followPageLifecycle(membership: Membership, graceMs: number | null, target: PageEvents = window): () => void {
  const doc = target.document;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const cancel = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  const leave = (): void => {
    cancel();
    void membership.leave();
  };
  const back = (): void => {
    cancel();
    if (doc.visibilityState === 'visible') void membership.join();
  };
  const onVisibility = (): void => {
    if (doc.visibilityState === 'visible') return back();
    if (graceMs === null || timer !== null) return;
    if (graceMs === 0) return leave();
    timer = setTimeout(leave, graceMs);
  };
  const listeners: [EventTarget, string, () => void][] = [
    [doc, 'visibilitychange', onVisibility],
    [target, 'pagehide', leave],
    [doc, 'freeze', leave],
    [target, 'pageshow', back],
    [doc, 'resume', back],
  ];
  for (const [t, type, fn] of listeners) t.addEventListener(type, fn);
  return () => {
    cancel();
    for (const [t, type, fn] of listeners) t.removeEventListener(type, fn);
  };
}
