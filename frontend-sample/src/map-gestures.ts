// Wheel, drag and two-finger pinch on the venue map, as pointer events (mouse, pen and touch alike;
// the element has `touch-action: none`, so the browser leaves the gestures to us).

export interface GestureTarget {
  /** Zoom by a factor around a point of the element (CSS px from its top-left corner). */
  zoomBy(factor: number, atX: number, atY: number): void;
  panBy(dx: number, dy: number): void;
}

/** Movement (CSS px) under which a press is still a tap, not a drag. */
const TAP_SLOP_PX = 6;

/** A point in client px (as events give it), in CSS px from the top-left corner of `el`. */
export function pointIn(el: HTMLElement, clientX: number, clientY: number): [number, number] {
  const rect = el.getBoundingClientRect();
  return [clientX - rect.left, clientY - rect.top];
}

/**
 * Binds the gestures until `signal` aborts. Returns `wasDrag()`: true when the pointer sequence that
 * just ended moved the view, so the click that follows it is not taken as a tap on a seat.
 */
export function bindGestures(el: HTMLElement, target: GestureTarget, signal: AbortSignal): { wasDrag(): boolean } {
  const pointers = new Map<number, { x: number; y: number }>();
  let dragged = false;
  el.addEventListener('wheel', (event) => {
    event.preventDefault();
    target.zoomBy(Math.exp(-event.deltaY * 0.0025), ...pointIn(el, event.clientX, event.clientY));
  }, { passive: false, signal });
  el.addEventListener('pointerdown', (event) => {
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (pointers.size === 1) dragged = false;
  }, { signal });
  el.addEventListener('pointermove', (event) => {
    const before = pointers.get(event.pointerId);
    if (!before) return;
    const now = { x: event.clientX, y: event.clientY };
    if (pointers.size === 2) {
      // Pinch: the distance between the fingers scales the view around their midpoint; moving both pans.
      const other = [...pointers.entries()].find(([id]) => id !== event.pointerId)![1];
      const d0 = Math.hypot(before.x - other.x, before.y - other.y);
      const d1 = Math.hypot(now.x - other.x, now.y - other.y);
      dragged = true;
      if (d0 > 0) target.zoomBy(d1 / d0, ...pointIn(el, (now.x + other.x) / 2, (now.y + other.y) / 2));
      target.panBy((now.x - before.x) / 2, (now.y - before.y) / 2);
    } else if (pointers.size === 1) {
      if (!dragged && Math.hypot(now.x - before.x, now.y - before.y) < TAP_SLOP_PX) return;
      dragged = true;
      target.panBy(now.x - before.x, now.y - before.y);
    }
    pointers.set(event.pointerId, now);
  }, { signal });
  // Released anywhere (a drag may end outside the map).
  const up = (event: PointerEvent): void => void pointers.delete(event.pointerId);
  window.addEventListener('pointerup', up, { signal });
  window.addEventListener('pointercancel', up, { signal });
  return {
    wasDrag: () => {
      const was = dragged;
      dragged = false;
      return was;
    },
  };
}
