// The venue-shaped seat map: one <canvas> draws the whole venue (a 50,000-seat stadium is one
// canvas, not 50,000 DOM nodes), and only the seats in view get a DOM element — and only once
// they are at least 24 CSS px apart (WCAG 2.2 target size): those elements are the accessible,
// clickable, focusable seats (role="checkbox"), transparent over what the canvas drew.
//
// Zoom levels: far out, each section is a block coloured by what is left (the heat) with its name
// and count; closer, seats are dots coloured by status; at tap size, seats with their marks.
// Zoom and pan: wheel (around the pointer), drag, two-finger pinch, keys (+ − 0 and arrows on the
// map; arrows move between seats once a seat has focus, and the view follows).
import { h } from './dom';
import { bindGestures } from './map-gestures';
import { money } from './format';
import { SeatState, seatName, statusWords, TIER_COLOURS, tierIndexBySection } from './seatmap';
import type { PriceTier, Seat, SeatStatus, SectionAvailability } from './types';
import { paintVenue, stageOf, TAP_TARGET_PX, type SectionBox, type VenueView } from './venue-canvas';

const MAX_SCALE_PX = 64; // closest zoom: one seat pitch at most this many CSS px

export interface VenueMapOptions {
  state: SeatState;
  tiers: PriceTier[];
  currency: string;
  label: string;
  /** Written on the stage, e.g. "STAGE · Field (standing)": standing areas have no seats to place them by. */
  stageLabel: string;
  availability(sectionId: string): SectionAvailability | undefined;
  isSelected(seatId: string): boolean;
  isMine(seatId: string): boolean;
  /** False for sections of price tiers the fan filtered out: faded, and their seats cannot be picked. */
  tierShown(sectionId: string): boolean;
  onToggle(seat: Seat): void;
}

/** Why a seat's extras matter, in words (shown on focus and hover). */
export function seatExtras(seat: Pick<Seat, 'accessible' | 'obstructedView'>): string[] {
  const words: string[] = [];
  if (seat.accessible) words.push('Wheelchair accessible: a step-free space for a wheelchair, with a companion seat next to it.');
  if (seat.obstructedView) words.push('Obstructed view: part of the stage may be hidden (an overhang or a pillar); priced the same as the section.');
  return words;
}

export class VenueMap {
  readonly element: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly layer: HTMLElement;
  private readonly readout: HTMLElement;
  private readonly zoomState: HTMLElement;
  private readonly seatsById = new Map<string, Seat>();
  private readonly sections = new Map<string, SectionBox>();
  private readonly nodes = new Map<string, HTMLElement>();
  private lines: Seat[][] = [];
  private readonly position = new Map<string, { line: number; index: number }>();
  private readonly tierBySection: Map<string, number>;
  private bounds = { minX: 0, minY: 0, maxX: 1, maxY: 1 };
  private pitch = 1;
  private scale = 10;
  private offsetX = 0;
  private offsetY = 0;
  /** Until the fan moves the view, the map keeps fitting the whole venue as sections arrive. */
  private userMoved = false;
  private focusId: string | null = null;
  private frame = 0;
  private readonly unbind = new AbortController();
  private readonly stopListening: () => void;
  private readonly resizeObserver: ResizeObserver;

  constructor(private readonly options: VenueMapOptions) {
    this.tierBySection = tierIndexBySection(options.tiers);
    this.canvas = h('canvas', { class: 'venue-canvas', 'aria-hidden': 'true' });
    this.layer = h('div', { class: 'seat-layer', role: 'group', 'aria-label': options.label, 'aria-describedby': 'venue-map-help' });
    this.viewport = h('div', {
      class: 'venue-viewport', tabindex: 0, role: 'region',
      'aria-label': `${options.label}: zoomable venue map`, 'aria-describedby': 'venue-map-help',
    }, this.canvas, this.layer);
    this.readout = h('p', { class: 'seat-readout', 'aria-live': 'off' }, 'Point at or focus a seat to see its details.');
    this.zoomState = h('span', { class: 'zoom-state', role: 'status' });
    const button = (label: string, text: string, action: () => void): HTMLButtonElement => {
      const b = h('button', { type: 'button', class: 'button map-button', 'aria-label': label }, text);
      b.addEventListener('click', action);
      return b;
    };
    this.element = h('figure', { class: 'seatmap venue-map' },
      h('div', { class: 'map-toolbar' },
        button('Zoom in', '+', () => this.zoomBy(1.6)),
        button('Zoom out', '−', () => this.zoomBy(1 / 1.6)),
        button('Show the whole venue', 'Whole venue', () => this.fit()),
        this.zoomState),
      this.viewport,
      this.readout,
      h('p', { class: 'seatmap-help', id: 'venue-map-help' },
        'Drag or use the arrow keys to move around, pinch, scroll or press + and − to zoom; tap a section to zoom to it. ' +
        'Seats can be picked once they are big enough to tap: arrow keys move between seats, Space or Enter selects.'));
    this.bindInput();
    this.stopListening = options.state.onChange((ids) => this.changed(ids));
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.viewport);
  }

  destroy(): void {
    this.stopListening();
    this.resizeObserver.disconnect();
    this.unbind.abort();
    cancelAnimationFrame(this.frame);
    this.element.remove();
  }

  /** Adds seats (a whole small venue, or one more section of a big one) and redraws. */
  addSeats(seats: Seat[]): void {
    for (const seat of seats) {
      if (this.seatsById.has(seat.id)) continue;
      this.seatsById.set(seat.id, seat);
      let box = this.sections.get(seat.sectionId);
      if (!box) this.sections.set(seat.sectionId, (box = { id: seat.sectionId, name: seat.section, minX: seat.x, minY: seat.y, maxX: seat.x, maxY: seat.y, seats: [] }));
      box.minX = Math.min(box.minX, seat.x);
      box.maxX = Math.max(box.maxX, seat.x);
      box.minY = Math.min(box.minY, seat.y);
      box.maxY = Math.max(box.maxY, seat.y);
      box.seats.push(seat);
    }
    const boxes = [...this.sections.values()];
    this.bounds = {
      minX: Math.min(...boxes.map((b) => b.minX)), minY: Math.min(...boxes.map((b) => b.minY)),
      maxX: Math.max(...boxes.map((b) => b.maxX)), maxY: Math.max(...boxes.map((b) => b.maxY)),
    };
    this.buildLines();
    if (!this.userMoved) this.fit();
    else this.schedule();
  }

  /** Repaints (e.g. after the owner changed the selection or the filter). */
  refresh(ids?: Iterable<string>): void {
    for (const id of ids ?? this.nodes.keys()) {
      const node = this.nodes.get(id);
      const seat = this.seatsById.get(id);
      if (node && seat) this.paintNode(node, seat);
    }
    this.schedule();
  }

  /** Zooms so the section fills the view, and at least to tap size; focuses its first free seat. */
  zoomToSection(sectionId: string, focus = false): void {
    const box = this.sections.get(sectionId);
    if (!box) return;
    this.userMoved = true;
    const { width, height } = this.size();
    const fit = Math.min(width / (box.maxX - box.minX + 3 * this.pitch), height / (box.maxY - box.minY + 3 * this.pitch));
    this.setView(Math.max(fit, this.tapScale()), (box.minX + box.maxX) / 2, (box.minY + box.maxY) / 2);
    if (focus) {
      const first = box.seats.find((s) => this.statusOf(s) === 'AVAILABLE' && this.options.tierShown(s.sectionId)) ?? box.seats[0];
      if (first) this.focusSeat(first.id);
    }
  }

  focusSeat(seatId: string): void {
    const seat = this.seatsById.get(seatId);
    if (!seat) return;
    this.userMoved = true;
    if (this.scale < this.tapScale()) this.setView(this.tapScale(), seat.x, seat.y, false);
    this.ensureVisible(seat);
    this.focusId = seatId;
    this.layout();
    this.draw();
    this.nodes.get(seatId)?.focus();
  }

  fit(): void {
    const { width, height } = this.size();
    if (!width || !this.seatsById.size) return;
    const b = this.bounds;
    const stage = stageOf({ bounds: this.bounds, pitch: this.pitch });
    const top = b.minY - stage.gap - stage.height; // room for the stage above
    const w = b.maxX - b.minX + 3 * this.pitch;
    const hgt = b.maxY - top + 3 * this.pitch;
    this.setView(Math.min(width / w, height / hgt), (b.minX + b.maxX) / 2, (top + b.maxY) / 2);
  }

  zoomBy(factor: number, atX?: number, atY?: number): void {
    const { width, height } = this.size();
    const px = atX ?? width / 2;
    const py = atY ?? height / 2;
    const wx = (px - this.offsetX) / this.scale;
    const wy = (py - this.offsetY) / this.scale;
    this.userMoved = true;
    const scale = this.clampScale(this.scale * factor);
    this.scale = scale;
    this.offsetX = px - wx * scale;
    this.offsetY = py - wy * scale;
    this.viewChanged();
  }

  panBy(dx: number, dy: number): void {
    this.userMoved = true;
    this.offsetX += dx;
    this.offsetY += dy;
    this.viewChanged();
  }

  /** Seats are tappable (and in the DOM) at this scale and above. */
  private tapScale(): number {
    return TAP_TARGET_PX / this.pitch;
  }

  private clampScale(scale: number): number {
    const { width, height } = this.size();
    const b = this.bounds;
    const min = Math.min(width / (b.maxX - b.minX + 20), height / (b.maxY - b.minY + 20)) * 0.6;
    return Math.min(Math.max(scale, Math.min(min, this.tapScale())), MAX_SCALE_PX / this.pitch);
  }

  private setView(scale: number, centreX: number, centreY: number, now = true): void {
    const { width, height } = this.size();
    this.scale = this.clampScale(scale);
    this.offsetX = width / 2 - centreX * this.scale;
    this.offsetY = height / 2 - centreY * this.scale;
    if (now) this.viewChanged();
  }

  private ensureVisible(seat: Seat): void {
    const { width, height } = this.size();
    const margin = this.pitch * this.scale * 1.5;
    const sx = seat.x * this.scale + this.offsetX;
    const sy = seat.y * this.scale + this.offsetY;
    if (sx < margin) this.offsetX += margin - sx;
    if (sx > width - margin) this.offsetX -= sx - (width - margin);
    if (sy < margin) this.offsetY += margin - sy;
    if (sy > height - margin) this.offsetY -= sy - (height - margin);
  }

  private size(): { width: number; height: number } {
    return { width: this.viewport.clientWidth, height: this.viewport.clientHeight };
  }

  private resize(): void {
    const { width, height } = this.size();
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    if (!this.userMoved) this.fit();
    else this.viewChanged();
  }

  private viewChanged(): void {
    const seatLevel = this.scale >= this.tapScale() - 1e-6;
    const words = seatLevel ? 'Seats can be picked' : 'Zoom in to pick seats';
    if (this.zoomState.textContent !== words) this.zoomState.textContent = words; // a live region: say changes only
    this.viewport.dataset.zoom = seatLevel ? 'seats' : 'overview';
    // The view in numbers (px per seat pitch, origin offset), for tests and debugging.
    this.viewport.dataset.pitchPx = (this.scale * this.pitch).toFixed(2);
    this.viewport.dataset.offset = `${Math.round(this.offsetX)},${Math.round(this.offsetY)}`;
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
      this.layout();
    });
  }

  private changed(ids: string[]): void {
    for (const id of ids) {
      const node = this.nodes.get(id);
      const seat = this.seatsById.get(id);
      if (node && seat) this.paintNode(node, seat);
    }
    this.schedule();
  }

  private statusOf(seat: Seat): SeatStatus {
    return this.options.state.status(seat.id) ?? seat.status;
  }

  private buildLines(): void {
    const byY = new Map<string, Seat[]>();
    for (const seat of this.seatsById.values()) {
      const key = `${Math.round(seat.y * 100)}`;
      let line = byY.get(key);
      if (!line) byY.set(key, (line = []));
      line.push(seat);
    }
    // Lines of seats at the same height, sorted left to right; a line crossing two sections side by
    // side is split at the section boundary, so Home/End and the arrows stay within a section's row.
    const lines: Seat[][] = [];
    for (const [, line] of [...byY.entries()].sort((a, b) => Number(a[0]) - Number(b[0]))) {
      line.sort((a, b) => a.x - b.x);
      let current: Seat[] = [];
      for (const seat of line) {
        if (current.length && seat.sectionId !== current[current.length - 1].sectionId) {
          lines.push(current);
          current = [];
        }
        current.push(seat);
      }
      if (current.length) lines.push(current);
    }
    this.lines = lines;
    this.position.clear();
    lines.forEach((line, l) => line.forEach((seat, i) => this.position.set(seat.id, { line: l, index: i })));
    const row = lines.find((line) => line.length > 1);
    if (row) this.pitch = Math.max(0.1, row[1].x - row[0].x);
  }

  // ---------------------------------------------------------------- drawing

  private draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const view: VenueView = {
      sections: [...this.sections.values()], bounds: this.bounds, pitch: this.pitch, scale: this.scale,
      offsetX: this.offsetX, offsetY: this.offsetY, size: () => this.size(), seatCount: this.seatsById.size, stageLabel: this.options.stageLabel,
      statusOf: (seat) => this.statusOf(seat), isSelected: this.options.isSelected, isMine: this.options.isMine,
      tierShown: this.options.tierShown, availability: this.options.availability,
      tierColour: (sectionId) => TIER_COLOURS[(this.tierBySection.get(sectionId) ?? 0) % TIER_COLOURS.length],
    };
    paintVenue(view, ctx);
  }

  /** Puts a focusable, labelled element over every seat in view — only at tap size. */
  private layout(): void {
    const seatLevel = this.scale >= this.tapScale() - 1e-6;
    const { width, height } = this.size();
    const keep = new Set<string>();
    if (seatLevel) {
      const s = this.scale;
      const size = this.pitch * s;
      for (const box of this.sections.values()) {
        if (!this.options.tierShown(box.id)) continue;
        for (const seat of box.seats) {
          const x = seat.x * s + this.offsetX, y = seat.y * s + this.offsetY;
          if (x < -size || y < -size || x > width + size || y > height + size) continue;
          keep.add(seat.id);
          let node = this.nodes.get(seat.id);
          if (!node) {
            node = h('div', { class: 'seat', role: 'checkbox', tabindex: -1, 'data-seat-id': seat.id });
            this.nodes.set(seat.id, node);
            this.paintNode(node, seat);
            this.layer.append(node);
          }
          node.style.width = node.style.height = `${size}px`;
          node.style.transform = `translate(${x - size / 2}px, ${y - size / 2}px)`;
        }
      }
    }
    for (const [id, node] of this.nodes) {
      if (keep.has(id) || (id === this.focusId && node.contains(document.activeElement))) continue;
      node.remove();
      this.nodes.delete(id);
    }
    // Roving tabindex: exactly one seat in the tab order (the focused one, else the first free one in view).
    let roving = this.focusId && this.nodes.has(this.focusId) ? this.focusId : null;
    if (!roving) roving = [...this.nodes.keys()].find((id) => this.statusOf(this.seatsById.get(id)!) === 'AVAILABLE') ?? this.nodes.keys().next().value ?? null;
    for (const [id, node] of this.nodes) node.tabIndex = id === roving ? 0 : -1;
  }

  private paintNode(node: HTMLElement, seat: Seat): void {
    const status = this.statusOf(seat);
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

  private show(seat: Seat): void {
    const label = this.nodes.get(seat.id)?.getAttribute('aria-label') ?? seatName(seat);
    this.readout.replaceChildren(h('strong', {}, label), ...seatExtras(seat).map((text) => h('span', { class: 'seat-extra' }, text)));
  }

  // ---------------------------------------------------------------- input

  private bindInput(): void {
    const vp = this.viewport;
    const gestures = bindGestures(vp, this, this.unbind.signal);
    vp.addEventListener('click', (event) => {
      if (gestures.wasDrag()) return;
      const seat = this.seatFromEvent(event);
      if (seat) {
        this.focusSeat(seat.id);
        this.options.onToggle(seat);
        return;
      }
      // A tap on a section far out zooms to it.
      const rect = vp.getBoundingClientRect();
      const wx = (event.clientX - rect.left - this.offsetX) / this.scale;
      const wy = (event.clientY - rect.top - this.offsetY) / this.scale;
      const box = [...this.sections.values()].find((b) => wx >= b.minX - 1 && wx <= b.maxX + 1 && wy >= b.minY - 1 && wy <= b.maxY + 1);
      if (box && this.scale < this.tapScale()) this.zoomToSection(box.id);
    });
    vp.addEventListener('keydown', (event) => this.onKey(event));
    vp.addEventListener('focusin', (event) => {
      const seat = this.seatFromEvent(event);
      if (seat) {
        this.focusId = seat.id;
        this.show(seat);
      }
    });
    vp.addEventListener('pointerover', (event) => {
      const seat = this.seatFromEvent(event);
      if (seat) this.show(seat);
    });
  }

  private seatFromEvent(event: Event): Seat | undefined {
    const node = (event.target as Element | null)?.closest?.('.seat');
    const id = node?.getAttribute('data-seat-id');
    return id ? this.seatsById.get(id) : undefined;
  }

  private onKey(event: KeyboardEvent): void {
    if (event.key === '+' || event.key === '=') return void (event.preventDefault(), this.zoomBy(1.5));
    if (event.key === '-' || event.key === '_') return void (event.preventDefault(), this.zoomBy(1 / 1.5));
    if (event.key === '0') return void (event.preventDefault(), this.fit());
    const seat = this.seatFromEvent(event);
    if (!seat) {
      const step = 60;
      const pan: Record<string, [number, number]> = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      if (pan[event.key]) {
        event.preventDefault();
        this.panBy(...pan[event.key]);
      }
      return;
    }
    const at = this.position.get(seat.id);
    if (!at) return;
    const line = this.lines[at.line];
    let target: Seat | undefined;
    switch (event.key) {
      case 'ArrowLeft': target = line[at.index - 1]; break;
      case 'ArrowRight': target = line[at.index + 1]; break;
      case 'ArrowUp': target = this.nearestIn(at.line, -1, seat); break;
      case 'ArrowDown': target = this.nearestIn(at.line, 1, seat); break;
      case 'PageUp': target = this.nearestIn(at.line, -5, seat); break;
      case 'PageDown': target = this.nearestIn(at.line, 5, seat); break;
      case 'Home': target = line[0]; break;
      case 'End': target = line[line.length - 1]; break;
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

  /** The seat nearest in x, `steps` rows up or down within the same section. */
  private nearestIn(lineIndex: number, steps: number, from: Seat): Seat | undefined {
    let found: Seat[] | undefined;
    let moved = 0;
    for (let l = lineIndex + Math.sign(steps); l >= 0 && l < this.lines.length && moved < Math.abs(steps); l += Math.sign(steps)) {
      if (this.lines[l][0].sectionId !== from.sectionId) continue;
      found = this.lines[l];
      moved++;
    }
    if (!found) return undefined;
    let best = found[0];
    for (const seat of found) if (Math.abs(seat.x - from.x) < Math.abs(best.x - from.x)) best = seat;
    return best;
  }
}

