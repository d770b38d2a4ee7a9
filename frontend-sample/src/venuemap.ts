// The venue-shaped seat map: one <canvas> draws the whole venue (a 50,000-seat stadium is one
// canvas, not 50,000 DOM nodes), and only the seats in view get a DOM element — and only once
// they are at least 24 CSS px apart (WCAG 2.2 target size): those elements are the accessible,
// clickable, focusable seats (role="checkbox"), transparent over what the canvas drew.
//
// Zoom levels: far out, each section is a block coloured by what is left (the heat) with its name
// and count; closer, seats are dots coloured by status; at tap size, seats with their marks.
// This module keeps the view (zoom and pan) and draws it on animation frames; where the seats are is
// venue-geometry.ts, the painting venue-canvas.ts, the seat elements seat-layer.ts, and the fan's
// wheel, drag, pinch, taps and keys map-gestures.ts and map-input.ts.
import { h } from './dom';
import { bindMapInput } from './map-input';
import { SeatState, TIER_COLOURS, tierIndexBySection } from './seatmap';
import { SeatLayer } from './seat-layer';
import type { PriceTier, Seat, SeatStatus, SectionAvailability } from './types';
import { paintVenue, TAP_TARGET_PX, type VenueView } from './venue-canvas';
import { stageOf, VenueGeometry } from './venue-geometry';

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

export class VenueMap {
  readonly element: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly layer: SeatLayer;
  private readonly zoomState: HTMLElement;
  private readonly geometry = new VenueGeometry();
  private readonly tierBySection: Map<string, number>;
  private scale = 10;
  private offsetX = 0;
  private offsetY = 0;
  /** Until the fan moves the view, the map keeps fitting the whole venue as sections arrive. */
  private userMoved = false;
  private frame = 0;
  private readonly unbind = new AbortController();
  private readonly stopListening: () => void;
  private readonly resizeObserver: ResizeObserver;

  constructor(private readonly options: VenueMapOptions) {
    this.tierBySection = tierIndexBySection(options.tiers);
    this.canvas = h('canvas', { class: 'venue-canvas', 'aria-hidden': 'true' });
    this.layer = new SeatLayer({
      label: options.label, currency: options.currency, statusOf: (seat) => this.statusOf(seat),
      isSelected: options.isSelected, isMine: options.isMine,
    });
    this.viewport = h('div', {
      class: 'venue-viewport', tabindex: 0, role: 'region',
      'aria-label': `${options.label}: zoomable venue map`, 'aria-describedby': 'venue-map-help',
    }, this.canvas, this.layer.element);
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
      this.layer.readout,
      h('p', { class: 'seatmap-help', id: 'venue-map-help' },
        'Drag or use the arrow keys to move around, pinch, scroll or press + and − to zoom; tap a section to zoom to it. ' +
        'Seats can be picked once they are big enough to tap: arrow keys move between seats, Space or Enter selects.'));
    bindMapInput(this.viewport, {
      zoomBy: (factor, atX, atY) => this.zoomBy(factor, atX, atY),
      panBy: (dx, dy) => this.panBy(dx, dy),
      fit: () => this.fit(),
      tapAt: (x, y) => this.tapAt(x, y),
      seatOf: (event) => this.layer.seatOf(event),
      neighbour: (from, move) => this.geometry.neighbour(from, move),
      focusSeat: (seatId) => this.focusSeat(seatId),
      seatFocused: (seat) => this.layer.focused(seat),
      seatPointed: (seat) => this.layer.show(seat),
      toggle: (seat) => options.onToggle(seat),
    }, this.unbind.signal);
    this.stopListening = options.state.onChange((ids) => this.refresh(ids));
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
    this.geometry.add(seats);
    if (!this.userMoved) this.fit();
    else this.schedule();
  }

  /** Repaints (e.g. after the owner changed the selection or the filter). */
  refresh(ids?: Iterable<string>): void {
    this.layer.repaint(ids);
    this.schedule();
  }

  /** Zooms so the section fills the view, and at least to tap size; focuses its first free seat. */
  zoomToSection(sectionId: string, focus = false): void {
    const box = this.geometry.sections.get(sectionId);
    if (!box) return;
    this.userMoved = true;
    const { width, height } = this.size();
    const pitch = this.geometry.pitch;
    const fit = Math.min(width / (box.maxX - box.minX + 3 * pitch), height / (box.maxY - box.minY + 3 * pitch));
    this.setView(Math.max(fit, this.tapScale()), (box.minX + box.maxX) / 2, (box.minY + box.maxY) / 2);
    if (focus) {
      const first = box.seats.find((s) => this.statusOf(s) === 'AVAILABLE' && this.options.tierShown(s.sectionId)) ?? box.seats[0];
      if (first) this.focusSeat(first.id);
    }
  }

  focusSeat(seatId: string): void {
    const seat = this.geometry.seats.get(seatId);
    if (!seat) return;
    this.userMoved = true;
    if (this.scale < this.tapScale()) this.setView(this.tapScale(), seat.x, seat.y, false);
    this.ensureVisible(seat);
    this.layer.focusOn(seatId, this.view(), this.seatLevel());
    this.draw();
  }

  fit(): void {
    const { width, height } = this.size();
    if (!width || !this.geometry.seats.size) return;
    const { bounds: b, pitch } = this.geometry;
    const stage = stageOf(this.geometry);
    const top = b.minY - stage.gap - stage.height; // room for the stage above
    const w = b.maxX - b.minX + 3 * pitch;
    const hgt = b.maxY - top + 3 * pitch;
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

  /** A tap off the seats: far out, the section under it is zoomed to. */
  private tapAt(x: number, y: number): void {
    const box = this.geometry.sectionAt((x - this.offsetX) / this.scale, (y - this.offsetY) / this.scale);
    if (box && this.scale < this.tapScale()) this.zoomToSection(box.id);
  }

  /** Seats are tappable (and in the DOM) at this scale and above. */
  private tapScale(): number {
    return TAP_TARGET_PX / this.geometry.pitch;
  }

  private seatLevel(): boolean {
    return this.scale >= this.tapScale() - 1e-6;
  }

  private clampScale(scale: number): number {
    const { width, height } = this.size();
    const b = this.geometry.bounds;
    const min = Math.min(width / (b.maxX - b.minX + 20), height / (b.maxY - b.minY + 20)) * 0.6;
    return Math.min(Math.max(scale, Math.min(min, this.tapScale())), MAX_SCALE_PX / this.geometry.pitch);
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
    const margin = this.geometry.pitch * this.scale * 1.5;
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
    const seatLevel = this.seatLevel();
    const words = seatLevel ? 'Seats can be picked' : 'Zoom in to pick seats';
    if (this.zoomState.textContent !== words) this.zoomState.textContent = words; // a live region: say changes only
    this.viewport.dataset.zoom = seatLevel ? 'seats' : 'overview';
    // The view in numbers (px per seat pitch, origin offset), for tests and debugging.
    this.viewport.dataset.pitchPx = (this.scale * this.geometry.pitch).toFixed(2);
    this.viewport.dataset.offset = `${Math.round(this.offsetX)},${Math.round(this.offsetY)}`;
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
      this.layer.place(this.view(), this.seatLevel());
    });
  }

  private statusOf(seat: Seat): SeatStatus {
    return this.options.state.status(seat.id) ?? seat.status;
  }

  /** The map as it is now, for the painter and the seat elements. */
  private view(): VenueView {
    const { geometry, options } = this;
    return {
      sections: [...geometry.sections.values()], bounds: geometry.bounds, pitch: geometry.pitch, scale: this.scale,
      offsetX: this.offsetX, offsetY: this.offsetY, size: () => this.size(), seatCount: geometry.seats.size, stageLabel: options.stageLabel,
      statusOf: (seat) => this.statusOf(seat), isSelected: options.isSelected, isMine: options.isMine,
      tierShown: options.tierShown, availability: options.availability,
      tierColour: (sectionId) => TIER_COLOURS[(this.tierBySection.get(sectionId) ?? 0) % TIER_COLOURS.length],
    };
  }

  private draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    paintVenue(this.view(), ctx);
  }
}
