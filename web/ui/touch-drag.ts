/**
 * Drag and drop by finger: HTML5 drag and drop does not start from a touch in every
 * mobile browser, so a chip dragged with a touch or pen pointer is followed with pointer
 * events instead — a ghost under the finger, the element under it looked up in the host's
 * shadow root, and a drop where the finger lifts. Mouse drags keep HTML5 drag and drop.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** Movement, in CSS pixels, before a press becomes a drag (a tap stays a tap). */
const DRAG_THRESHOLD_PX = 8;

/** Options of {@link TouchDrag}. */
export interface TouchDragOptions<P> {
  /** The drop target under a point (`null`: none), as the host's root finds it. */
  targetAt(x: number, y: number): string | null;
  /** The finger is over `target` (null: over nothing droppable). */
  over(target: string | null, payload: P): void;
  /** The finger lifted over `target`. */
  drop(target: string, payload: P): void;
}

/** Pointer-event dragging for touch and pen, one drag at a time. */
export class TouchDrag<P> implements ReactiveController {
  readonly #options: TouchDragOptions<P>;
  #stop: (() => void) | null = null;

  constructor(host: ReactiveControllerHost, options: TouchDragOptions<P>) {
    this.#options = options;
    host.addController(this);
  }

  /** True while a finger drags something. */
  get dragging(): boolean {
    return this.#stop !== null;
  }

  hostConnected(): void {}

  hostDisconnected(): void {
    this.#stop?.();
  }

  /** From a chip's `pointerdown`: follow a touch or pen pointer until it lifts. */
  press(e: PointerEvent, payload: P, label: string): void {
    if (e.pointerType === 'mouse' || this.#stop || !(e.currentTarget instanceof HTMLElement)) return;
    const el = e.currentTarget;
    const startX = e.clientX;
    const startY = e.clientY;
    let ghost: HTMLElement | null = null;
    let target: string | null = null;
    el.setPointerCapture?.(e.pointerId);
    const move = (m: PointerEvent): void => {
      if (m.pointerId !== e.pointerId) return;
      if (!ghost) {
        if (Math.hypot(m.clientX - startX, m.clientY - startY) < DRAG_THRESHOLD_PX) return;
        ghost = document.createElement('div');
        ghost.textContent = label;
        ghost.setAttribute('aria-hidden', 'true');
        Object.assign(ghost.style, { position: 'fixed', pointerEvents: 'none', zIndex: '10', background: '#1d4ed8', color: '#fff', borderRadius: '999px', padding: '0.3rem 0.8rem', font: '0.9rem system-ui, sans-serif', opacity: '0.9' });
        document.body.appendChild(ghost);
      }
      m.preventDefault();
      ghost.style.left = `${m.clientX + 8}px`;
      ghost.style.top = `${m.clientY - 24}px`;
      target = this.#options.targetAt(m.clientX, m.clientY);
      this.#options.over(target, payload);
    };
    const up = (u: PointerEvent): void => {
      if (u.pointerId !== e.pointerId) return;
      const dropped = ghost !== null && u.type === 'pointerup' ? target : null;
      this.#stop?.();
      if (dropped) this.#options.drop(dropped, payload);
    };
    el.addEventListener('pointermove', move);
    el.addEventListener('pointerup', up);
    el.addEventListener('pointercancel', up);
    this.#stop = () => {
      el.removeEventListener('pointermove', move);
      el.removeEventListener('pointerup', up);
      el.removeEventListener('pointercancel', up);
      ghost?.remove();
      this.#options.over(null, payload);
      this.#stop = null;
    };
  }
}
