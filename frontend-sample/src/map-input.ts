// What the fan does on the venue map, turned into map actions: a tap on a seat picks it, a tap on a
// section far out zooms to it; focus and hover describe a seat; keys on the map zoom (+ − 0) and pan
// (arrows), and once a seat has focus the arrows, Home/End and PageUp/PageDown move between seats (the
// view follows) and Space or Enter picks. Wheel, drag and pinch are map-gestures.ts.
import { bindGestures, pointIn, type GestureTarget } from './map-gestures';
import type { Seat } from './types';
import type { SeatMove } from './venue-geometry';

export interface MapInputTarget extends GestureTarget {
  /** Zoom by a factor around a point of the element; around its centre without one. */
  zoomBy(factor: number, atX?: number, atY?: number): void;
  fit(): void;
  /** A tap off the seats, at a point of the element (CSS px from its top-left corner). */
  tapAt(x: number, y: number): void;
  /** The seat whose element an event came from. */
  seatOf(event: Event): Seat | undefined;
  neighbour(from: Seat, move: SeatMove): Seat | undefined;
  focusSeat(seatId: string): void;
  seatFocused(seat: Seat): void;
  seatPointed(seat: Seat): void;
  toggle(seat: Seat): void;
}

const KEY_ZOOM = 1.5;
const KEY_PAN_PX = 60;
const PANS = new Map<string, [number, number]>([
  ['ArrowLeft', [KEY_PAN_PX, 0]], ['ArrowRight', [-KEY_PAN_PX, 0]], ['ArrowUp', [0, KEY_PAN_PX]], ['ArrowDown', [0, -KEY_PAN_PX]],
]);
const SEAT_MOVES = new Map<string, SeatMove>([
  ['ArrowLeft', 'left'], ['ArrowRight', 'right'], ['ArrowUp', -1], ['ArrowDown', 1],
  ['PageUp', -5], ['PageDown', 5], ['Home', 'first'], ['End', 'last'],
]);

/** Binds the map's input on its viewport; the gestures until `signal` aborts. */
export function bindMapInput(viewport: HTMLElement, target: MapInputTarget, signal: AbortSignal): void {
  const gestures = bindGestures(viewport, target, signal);
  viewport.addEventListener('click', (event) => {
    if (gestures.wasDrag()) return;
    const seat = target.seatOf(event);
    if (seat) {
      target.focusSeat(seat.id);
      target.toggle(seat);
      return;
    }
    target.tapAt(...pointIn(viewport, event.clientX, event.clientY));
  });
  viewport.addEventListener('keydown', (event) => onKey(event, target));
  viewport.addEventListener('focusin', (event) => {
    const seat = target.seatOf(event);
    if (seat) target.seatFocused(seat);
  });
  viewport.addEventListener('pointerover', (event) => {
    const seat = target.seatOf(event);
    if (seat) target.seatPointed(seat);
  });
}

function onKey(event: KeyboardEvent, target: MapInputTarget): void {
  if (event.key === '+' || event.key === '=') return void (event.preventDefault(), target.zoomBy(KEY_ZOOM));
  if (event.key === '-' || event.key === '_') return void (event.preventDefault(), target.zoomBy(1 / KEY_ZOOM));
  if (event.key === '0') return void (event.preventDefault(), target.fit());
  const seat = target.seatOf(event);
  if (!seat) {
    const pan = PANS.get(event.key);
    if (pan) {
      event.preventDefault();
      target.panBy(...pan);
    }
    return;
  }
  if (event.key === ' ' || event.key === 'Enter') {
    event.preventDefault();
    target.toggle(seat);
    return;
  }
  const move = SEAT_MOVES.get(event.key);
  if (move === undefined) return;
  event.preventDefault();
  const next = target.neighbour(seat, move);
  if (next) target.focusSeat(next.id);
}
