// The accessible seats over the canvas: a focusable, labelled role="checkbox" element for every seat in
// view, and only once seats are at least TAP_TARGET_PX apart (WCAG 2.2 target size), transparent over
// what the canvas drew; one of them in the tab order (roving tabindex); and the readout under the map
// that says in words what the focused or pointed-at seat is.
import { h } from './dom';
import { money } from './format';
import { seatName, statusWords } from './seatmap';
import type { Seat, SeatStatus } from './types';
import type { VenueView } from './venue-canvas';
import { inView } from './venue-geometry';

export interface SeatLayerOptions {
  label: string;
  currency: string;
  statusOf(seat: Seat): SeatStatus;
  isSelected(seatId: string): boolean;
  isMine(seatId: string): boolean;
}

/** The view the seat elements are placed by. */
export type LayerView = Pick<VenueView, 'sections' | 'pitch' | 'scale' | 'offsetX' | 'offsetY' | 'size' | 'tierShown'>;

/** Why a seat's extras matter, in words (shown on focus and hover). */
export function seatExtras(seat: Pick<Seat, 'accessible' | 'obstructedView'>): string[] {
  const words: string[] = [];
  if (seat.accessible) words.push('Wheelchair accessible: a step-free space for a wheelchair, with a companion seat next to it.');
  if (seat.obstructedView) words.push('Obstructed view: part of the stage may be hidden (an overhang or a pillar); priced the same as the section.');
  return words;
}

export class SeatLayer {
  readonly element: HTMLElement;
  readonly readout: HTMLElement;
  private readonly nodes = new Map<string, { node: HTMLElement; seat: Seat }>();
  private focusId: string | null = null;

  constructor(private readonly options: SeatLayerOptions) {
    this.element = h('div', { class: 'seat-layer', role: 'group', 'aria-label': options.label, 'aria-describedby': 'venue-map-help' });
    this.readout = h('p', { class: 'seat-readout', 'aria-live': 'off' }, 'Point at or focus a seat to see its details.');
  }

  /** Puts an element over every seat in view of a shown tier (none when `seatLevel` is false) and drops the rest. */
  place(view: LayerView, seatLevel: boolean): void {
    const { width, height } = view.size();
    const keep = new Set<string>();
    if (seatLevel) {
      const s = view.scale;
      const size = view.pitch * s;
      for (const box of view.sections) {
        if (!view.tierShown(box.id)) continue;
        for (const seat of box.seats) {
          const x = seat.x * s + view.offsetX, y = seat.y * s + view.offsetY;
          if (!inView(x, y, size, width, height)) continue;
          keep.add(seat.id);
          let node = this.nodes.get(seat.id)?.node;
          if (!node) {
            node = h('div', { class: 'seat', role: 'checkbox', tabindex: -1, 'data-seat-id': seat.id });
            this.nodes.set(seat.id, { node, seat });
            this.paint(node, seat);
            this.element.append(node);
          }
          node.style.width = node.style.height = `${size}px`;
          node.style.transform = `translate(${x - size / 2}px, ${y - size / 2}px)`;
        }
      }
    }
    // The focused seat stays, even out of view, so the keyboard focus is never lost.
    for (const [id, { node }] of this.nodes) {
      if (keep.has(id) || (id === this.focusId && node.contains(document.activeElement))) continue;
      node.remove();
      this.nodes.delete(id);
    }
    // Roving tabindex: exactly one seat in the tab order (the focused one, else the first free one in view).
    let roving = this.focusId && this.nodes.has(this.focusId) ? this.focusId : null;
    if (!roving) roving = [...this.nodes].find(([, { seat }]) => this.options.statusOf(seat) === 'AVAILABLE')?.[0] ?? this.nodes.keys().next().value ?? null;
    for (const [id, { node }] of this.nodes) node.tabIndex = id === roving ? 0 : -1;
  }

  /** Moves the keyboard focus to a seat, placing the elements for `view` first. */
  focusOn(seatId: string, view: LayerView, seatLevel: boolean): void {
    this.focusId = seatId;
    this.place(view, seatLevel);
    this.nodes.get(seatId)?.node.focus();
  }

  /** Brings the elements of these seats (all, without ids) up to date with their state. */
  repaint(ids?: Iterable<string>): void {
    for (const id of ids ?? this.nodes.keys()) {
      const placed = this.nodes.get(id);
      if (placed) this.paint(placed.node, placed.seat);
    }
  }

  /** The seat whose element an event came from. */
  seatOf(event: Event): Seat | undefined {
    const node = (event.target as Element | null)?.closest?.('.seat');
    const id = node?.getAttribute('data-seat-id');
    return id ? this.nodes.get(id)?.seat : undefined;
  }

  /** A seat element got the focus: it is the one in the tab order now, and the readout describes it. */
  focused(seat: Seat): void {
    this.focusId = seat.id;
    this.show(seat);
  }

  /** Describes a seat in the readout. */
  show(seat: Seat): void {
    const label = this.nodes.get(seat.id)?.node.getAttribute('aria-label') ?? seatName(seat);
    this.readout.replaceChildren(h('strong', {}, label), ...seatExtras(seat).map((text) => h('span', { class: 'seat-extra' }, text)));
  }

  private paint(node: HTMLElement, seat: Seat): void {
    const status = this.options.statusOf(seat);
    const mine = status === 'HELD' && this.options.isMine(seat.id);
    const selected = !mine && this.options.isSelected(seat.id);
    node.dataset.status = status;
    node.classList.toggle('is-selected', selected);
    node.classList.toggle('is-mine', mine);
    node.setAttribute('aria-checked', String(selected || mine));
    node.setAttribute('aria-disabled', String(!selected && (mine || status !== 'AVAILABLE')));
    node.setAttribute('aria-label', this.describe(seat, status, selected, mine));
    if (this.focusId === seat.id) this.show(seat);
  }

  private describe(seat: Seat, status: SeatStatus, selected: boolean, mine: boolean): string {
    const parts = [seatName(seat), money(seat.priceCents, this.options.currency), statusWords(status, selected, mine)];
    if (seat.accessible) parts.push('wheelchair accessible');
    if (seat.obstructedView) parts.push('obstructed view');
    return parts.join(', ');
  }
}
