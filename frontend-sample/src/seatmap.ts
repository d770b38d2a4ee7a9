// The seat map: live seat state with a version barrier, and an accessible SVG view of it.
//
// SeatState keeps, per seat, the newest (status, version) seen from any source — the initial
// `Show.seats` load, a later per-section load, or a `seatChanges` message — and ignores anything
// older, so replays and races between a fetch and a live message can never roll a seat back.
//
// SeatMap draws one <g role="checkbox"> per seat from (x, y). Keyboard: one seat is in the tab order
// (roving tabindex); arrow keys move between seats, Home/End jump to the ends of a row, Space/Enter
// toggle. Status is shown by colour AND shape: a hatch for held, a cross for sold, a dash for
// blocked, a tick for selected; ♿ marks wheelchair places, a corner flag an obstructed view.
import { s, h } from './dom';
import { money } from './format';
import type { PriceTier, Seat, SeatChange, SeatStatus } from './types';

export class SeatState {
  private entries = new Map<string, { status: SeatStatus; version: number }>();
  private listeners = new Set<(changedIds: string[]) => void>();

  /** Takes seats from a fetch; keeps whatever is newer than what it brings. Returns the changed ids. */
  seed(seats: Pick<Seat, 'id' | 'status' | 'version'>[]): string[] {
    return this.apply(seats.map((seat) => ({ seatId: seat.id, status: seat.status, version: seat.version })));
  }

  /** Applies live changes: only those whose version is newer than the one held. */
  apply(changes: SeatChange[]): string[] {
    const changed: string[] = [];
    for (const change of changes) {
      const known = this.entries.get(change.seatId);
      if (known && known.version >= change.version) continue;
      this.entries.set(change.seatId, { status: change.status, version: change.version });
      if (!known || known.status !== change.status) changed.push(change.seatId);
    }
    if (changed.length) for (const listener of this.listeners) listener(changed);
    return changed;
  }

  status(seatId: string): SeatStatus | undefined {
    return this.entries.get(seatId)?.status;
  }

  onChange(listener: (changedIds: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Up to six colour-blind-distinguishable tier colours, all dark enough for white marks (≥ 4.5:1). */
export const TIER_COUNT = 6;

export function tierIndexBySection(tiers: PriceTier[]): Map<string, number> {
  const index = new Map<string, number>();
  tiers.forEach((tier, i) => tier.sectionIds.forEach((id) => index.set(id, i % TIER_COUNT)));
  return index;
}

export interface SeatMapOptions {
  seats: Seat[];
  state: SeatState;
  tiers: PriceTier[];
  currency: string;
  /** The accessible name of the map, e.g. "Seat map, Hamlet". */
  label: string;
  isSelected(seatId: string): boolean;
  isMine(seatId: string): boolean;
  /** Called on click, Space or Enter; the owner decides and then calls refresh(). */
  onToggle(seat: Seat): void;
}

const UNIT_PX = 11; // minimum on-screen size of one seat pitch, so seats stay clickable on small screens
const MARKS = {
  tick: 'M-.24 .01L-.07 .19L.25-.2',
  cross: 'M-.22-.22L.22 .22M.22-.22L-.22 .22',
  dash: 'M-.24 0H.24',
};

function statusWords(status: SeatStatus, selected: boolean, mine: boolean): string {
  if (mine) return 'held for you';
  if (selected) return 'selected';
  switch (status) {
    case 'AVAILABLE':
      return 'available';
    case 'HELD':
      return 'held by someone else';
    case 'SOLD':
      return 'sold';
    case 'BLOCKED':
      return 'not for sale';
  }
}

export function seatName(seat: Pick<Seat, 'section' | 'row' | 'number'>): string {
  return `${seat.section}, row ${seat.row}, seat ${seat.number}`;
}

let mapCount = 0;

export class SeatMap {
  readonly element: HTMLElement;
  private readonly svg: SVGSVGElement;
  private readonly readout: HTMLElement;
  private readonly nodes = new Map<string, SVGGElement>();
  private readonly seatsById = new Map<string, Seat>();
  /** Seats grouped into visual lines (same y), each sorted by x: the grid arrow keys move on. */
  private readonly lines: Seat[][] = [];
  private readonly position = new Map<string, { line: number; index: number }>();
  private readonly tierBySection: Map<string, number>;
  private focusId: string | null = null;
  private readonly stopListening: () => void;

  constructor(private readonly options: SeatMapOptions) {
    this.tierBySection = tierIndexBySection(options.tiers);
    for (const seat of options.seats) this.seatsById.set(seat.id, seat);
    this.buildLines();
    this.readout = h('p', { class: 'seat-readout', 'aria-hidden': 'true' }, 'Point at or focus a seat to see its details.');
    this.svg = this.draw();
    const instructions = h('p', { class: 'seatmap-help', id: `seatmap-help-${++mapCount}` },
      'Use Tab to reach the map, arrow keys to move between seats, Home and End for the ends of a row, and Space or Enter to select a seat.');
    this.svg.setAttribute('aria-describedby', instructions.id);
    this.element = h('figure', { class: 'seatmap' },
      h('div', { class: 'seatmap-scroll' }, this.svg),
      this.readout,
      instructions);
    this.stopListening = options.state.onChange((ids) => ids.forEach((id) => this.paint(id)));
    const first = this.lines.flat().find((seat) => this.statusOf(seat) === 'AVAILABLE') ?? this.lines[0]?.[0];
    if (first) this.setFocusable(first.id);
  }

  destroy(): void {
    this.stopListening();
    this.element.remove();
  }

  /** Repaints seats (all when no ids are given), e.g. after the owner changed the selection. */
  refresh(ids?: Iterable<string>): void {
    for (const id of ids ?? this.nodes.keys()) this.paint(id);
  }

  has(seatId: string): boolean {
    return this.nodes.has(seatId);
  }

  focusSeat(seatId: string): void {
    const node = this.nodes.get(seatId);
    if (!node) return;
    this.setFocusable(seatId);
    node.focus();
  }

  private statusOf(seat: Seat): SeatStatus {
    return this.options.state.status(seat.id) ?? seat.status;
  }

  private buildLines(): void {
    const byY = new Map<number, Seat[]>();
    for (const seat of this.options.seats) {
      const key = Math.round(seat.y * 100);
      let line = byY.get(key);
      if (!line) byY.set(key, (line = []));
      line.push(seat);
    }
    [...byY.entries()]
      .sort((a, b) => a[0] - b[0])
      .forEach(([, line]) => this.lines.push(line.sort((a, b) => a.x - b.x)));
    this.lines.forEach((line, l) => line.forEach((seat, i) => this.position.set(seat.id, { line: l, index: i })));
  }

  private draw(): SVGSVGElement {
    const { seats } = this.options;
    const xs = seats.map((seat) => seat.x);
    const ys = seats.map((seat) => seat.y);
    const minX = Math.min(...xs) - 2.2;
    const minY = Math.min(...ys) - 2.4;
    const width = Math.max(...xs) - minX + 1.2;
    const height = Math.max(...ys) - minY + 1.2;
    const svg = s('svg', {
      class: 'seatmap-svg',
      viewBox: `${minX} ${minY} ${width} ${height}`,
      role: 'group',
      'aria-label': this.options.label,
      style: `min-width: ${Math.round(width * UNIT_PX)}px`,
    });
    svg.append(this.drawLabels());
    const layer = s('g', { class: 'seats' });
    for (const seat of seats) layer.append(this.drawSeat(seat));
    svg.append(layer);

    svg.addEventListener('click', (event) => {
      const seat = this.seatFromEvent(event);
      if (!seat) return;
      this.focusSeat(seat.id);
      this.options.onToggle(seat);
    });
    svg.addEventListener('keydown', (event) => this.onKey(event));
    svg.addEventListener('focusin', (event) => {
      const seat = this.seatFromEvent(event);
      if (seat) {
        this.setFocusable(seat.id);
        this.show(seat);
      }
    });
    svg.addEventListener('pointerover', (event) => {
      const seat = this.seatFromEvent(event);
      if (seat) this.show(seat);
    });
    return svg;
  }

  /** Section names and row letters, for sighted people; seats carry the same facts in their labels. */
  private drawLabels(): SVGGElement {
    const group = s('g', { class: 'seatmap-labels', 'aria-hidden': 'true' });
    const sections = new Map<string, { name: string; minX: number; maxX: number; minY: number }>();
    const rows = new Map<string, { label: string; x: number; y: number }>();
    for (const seat of this.options.seats) {
      const sec = sections.get(seat.sectionId);
      if (!sec) sections.set(seat.sectionId, { name: seat.section, minX: seat.x, maxX: seat.x, minY: seat.y });
      else {
        sec.minX = Math.min(sec.minX, seat.x);
        sec.maxX = Math.max(sec.maxX, seat.x);
        sec.minY = Math.min(sec.minY, seat.y);
      }
      const key = `${seat.sectionId}/${seat.row}`;
      const row = rows.get(key);
      if (!row || seat.x < row.x) rows.set(key, { label: seat.row, x: seat.x, y: seat.y });
    }
    for (const sec of sections.values()) {
      group.append(s('text', { class: 'section-label', x: (sec.minX + sec.maxX) / 2, y: sec.minY - 1.1, 'text-anchor': 'middle' }, sec.name));
    }
    for (const row of rows.values()) {
      group.append(s('text', { class: 'row-label', x: row.x - 0.75, y: row.y, 'text-anchor': 'end', 'dominant-baseline': 'central' }, row.label));
    }
    return group;
  }

  private drawSeat(seat: Seat): SVGGElement {
    const tier = this.tierBySection.get(seat.sectionId) ?? 0;
    const g = s('g', {
      class: `seat tier-${tier}`,
      role: 'checkbox',
      tabindex: -1,
      transform: `translate(${seat.x} ${seat.y})`,
      'data-seat-id': seat.id,
    });
    g.append(s('rect', { class: 'seat-shape', x: -0.42, y: -0.42, width: 0.84, height: 0.84, rx: 0.2 }));
    if (seat.accessible) g.append(s('text', { class: 'seat-glyph', 'text-anchor': 'middle', 'dominant-baseline': 'central', y: 0.03 }, '♿'));
    if (seat.obstructedView) g.append(s('path', { class: 'seat-obstructed', d: 'M-.46-.46H.02L-.46 .02Z' }));
    g.append(s('path', { class: 'seat-mark', d: '' }));
    this.nodes.set(seat.id, g);
    this.paintNode(g, seat);
    return g;
  }

  private paint(id: string): void {
    const node = this.nodes.get(id);
    const seat = this.seatsById.get(id);
    if (node && seat) this.paintNode(node, seat);
  }

  private paintNode(node: SVGGElement, seat: Seat): void {
    const status = this.statusOf(seat);
    const mine = status === 'HELD' && this.options.isMine(seat.id);
    const selected = !mine && this.options.isSelected(seat.id);
    node.dataset.status = status;
    node.classList.toggle('is-selected', selected);
    node.classList.toggle('is-mine', mine);
    node.setAttribute('aria-checked', String(selected || mine));
    node.setAttribute('aria-disabled', String(!selected && (mine || status !== 'AVAILABLE')));
    node.setAttribute('aria-label', this.describe(seat, status, selected, mine));
    const mark = selected || mine ? MARKS.tick : status === 'SOLD' ? MARKS.cross : status === 'BLOCKED' ? MARKS.dash : '';
    node.lastElementChild?.setAttribute('d', mark);
    if (this.focusId === seat.id) this.show(seat);
  }

  private describe(seat: Seat, status: SeatStatus, selected: boolean, mine: boolean): string {
    const parts = [seatName(seat), money(seat.priceCents, this.options.currency), statusWords(status, selected, mine)];
    if (seat.accessible) parts.push('wheelchair accessible');
    if (seat.obstructedView) parts.push('obstructed view');
    return parts.join(', ');
  }

  private show(seat: Seat): void {
    this.readout.textContent = this.nodes.get(seat.id)?.getAttribute('aria-label') ?? '';
  }

  private seatFromEvent(event: Event): Seat | undefined {
    const node = (event.target as Element | null)?.closest?.('.seat');
    const id = node?.getAttribute('data-seat-id');
    return id ? this.seatsById.get(id) : undefined;
  }

  private setFocusable(id: string): void {
    if (this.focusId === id) return;
    if (this.focusId) this.nodes.get(this.focusId)?.setAttribute('tabindex', '-1');
    this.nodes.get(id)?.setAttribute('tabindex', '0');
    this.focusId = id;
  }

  private onKey(event: KeyboardEvent): void {
    const seat = this.seatFromEvent(event);
    if (!seat) return;
    const at = this.position.get(seat.id);
    if (!at) return;
    let target: Seat | undefined;
    switch (event.key) {
      case 'ArrowLeft':
        target = this.lines[at.line][at.index - 1];
        break;
      case 'ArrowRight':
        target = this.lines[at.line][at.index + 1];
        break;
      case 'ArrowUp':
        target = this.nearestIn(at.line - 1, seat.x);
        break;
      case 'ArrowDown':
        target = this.nearestIn(at.line + 1, seat.x);
        break;
      case 'PageUp':
        target = this.nearestIn(Math.max(0, at.line - 5), seat.x);
        break;
      case 'PageDown':
        target = this.nearestIn(Math.min(this.lines.length - 1, at.line + 5), seat.x);
        break;
      case 'Home':
        target = this.lines[at.line][0];
        break;
      case 'End':
        target = this.lines[at.line][this.lines[at.line].length - 1];
        break;
      case ' ':
      case 'Enter':
        event.preventDefault();
        this.options.onToggle(seat);
        return;
      default:
        return;
    }
    event.preventDefault();
    if (target) this.focusSeat(target.id);
  }

  private nearestIn(lineIndex: number, x: number): Seat | undefined {
    const line = this.lines[lineIndex];
    if (!line) return undefined;
    let best = line[0];
    for (const seat of line) if (Math.abs(seat.x - x) < Math.abs(best.x - x)) best = seat;
    return best;
  }
}

/** The key to the map's colours and marks, as real text. */
export function seatLegend(tiers: PriceTier[], currency: string): HTMLElement {
  const swatch = (cls: string, mark = '', glyph = ''): SVGSVGElement =>
    s('svg', { class: 'legend-swatch', viewBox: '-0.5 -0.5 1 1', 'aria-hidden': 'true' },
      s('g', { class: `seat ${cls}` },
        s('rect', { class: 'seat-shape', x: -0.42, y: -0.42, width: 0.84, height: 0.84, rx: 0.2 }),
        glyph ? s('text', { class: 'seat-glyph', 'text-anchor': 'middle', 'dominant-baseline': 'central', y: 0.03 }, glyph) : null,
        cls.includes('obstructed') ? s('path', { class: 'seat-obstructed', d: 'M-.46-.46H.02L-.46 .02Z' }) : null,
        s('path', { class: 'seat-mark', d: mark })));
  const item = (icon: SVGSVGElement, text: string): HTMLLIElement => h('li', {}, icon, text);
  const held = swatch('legend-held');
  held.querySelector('.seat')?.setAttribute('data-status', 'HELD');
  const sold = swatch('legend-sold', MARKS.cross);
  sold.querySelector('.seat')?.setAttribute('data-status', 'SOLD');
  const blocked = swatch('legend-blocked', MARKS.dash);
  blocked.querySelector('.seat')?.setAttribute('data-status', 'BLOCKED');
  return h('div', { class: 'legend' },
    h('h3', { class: 'legend-title' }, 'Key'),
    h('ul', { class: 'legend-list' },
      ...tiers.map((tier, i) => item(swatch(`tier-${i % TIER_COUNT}`), `${tier.name} · ${money(tier.priceCents, currency)}`)),
      item(swatch('tier-0 is-selected', MARKS.tick), 'Selected / held for you'),
      item(held, 'Held by someone else'),
      item(sold, 'Sold'),
      item(blocked, 'Not for sale'),
      item(swatch('tier-0', '', '♿'), 'Wheelchair accessible'),
      item(swatch('tier-0 obstructed'), 'Obstructed view')));
}
