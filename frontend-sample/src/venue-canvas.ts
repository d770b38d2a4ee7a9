// Paints the venue on a canvas: the stage, each section as a heat block (far out) or its seats
// (closer: dots by status; at tap size with marks). Pure drawing from a view of the map's state
// (venuemap.ts); the accessible seat elements over it are seat-layer.ts.
import type { Seat, SeatStatus, SectionAvailability } from './types';
import { inView, stageOf, type Bounds, type SectionBox } from './venue-geometry';

/** The smallest on-screen seat pitch, in CSS px, at which seats become tappable DOM elements. */
export const TAP_TARGET_PX = 24;
const DOT_PX = 5; // below this pitch seats are not drawn one by one: the section heat says enough

/** What the painter needs to know of the map: geometry, the view, and the state of each seat. */
export interface VenueView {
  sections: SectionBox[];
  bounds: Bounds;
  pitch: number;
  scale: number;
  offsetX: number;
  offsetY: number;
  size(): { width: number; height: number };
  seatCount: number;
  stageLabel: string;
  statusOf(seat: Seat): SeatStatus;
  isSelected(seatId: string): boolean;
  isMine(seatId: string): boolean;
  tierShown(sectionId: string): boolean;
  tierColour(sectionId: string): string;
  availability(sectionId: string): SectionAvailability | undefined;
}

/** Heat of a section from the share of places left: colour AND words, never colour alone. */
export function heat(available: number, capacity: number): { fill: string; words: string } {
  if (!capacity || available <= 0) return { fill: '#6b7280', words: 'sold out' };
  const share = available / capacity;
  if (share < 0.1) return { fill: '#b91c1c', words: 'almost gone' };
  if (share < 0.5) return { fill: '#b45309', words: 'selling fast' };
  return { fill: '#15803d', words: 'plenty left' };
}

/** Draws one frame (the context is already scaled to CSS px); its cost goes to a performance measure. */
export function paintVenue(v: VenueView, ctx: CanvasRenderingContext2D): void {
  const started = performance.now();
  let seats = 0; // drawn one by one in this frame
  const { width, height } = v.size();
  ctx.fillStyle = '#f8fafc';
  ctx.fillRect(0, 0, width, height);
  const s = v.scale;
  const toX = (x: number) => x * s + v.offsetX;
  const toY = (y: number) => y * s + v.offsetY;
  const b = v.bounds;
  if (!v.seatCount) return;

  // The stage, in front of the first rows (the contract has no stage position: the front is the top).
  const stage = stageOf(v);
  const sx = toX((b.minX + b.maxX) / 2 - stage.width / 2);
  const sy = toY(b.minY - stage.gap - stage.height);
  ctx.fillStyle = '#1f2937';
  roundRect(ctx, sx, sy, stage.width * s, stage.height * s, 6);
  ctx.fill();
  ctx.fillStyle = '#ffffff';
  ctx.font = `600 ${clamp(stage.height * s * 0.55, 9, 28)}px system-ui, sans-serif`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(v.stageLabel, sx + (stage.width * s) / 2, sy + (stage.height * s) / 2, stage.width * s - 8);

  const pitchPx = v.pitch * s;
  const viewMinX = -v.offsetX / s - 2, viewMaxX = (width - v.offsetX) / s + 2;
  const viewMinY = -v.offsetY / s - 2, viewMaxY = (height - v.offsetY) / s + 2;
  for (const box of v.sections.values()) {
    if (box.maxX < viewMinX || box.minX > viewMaxX || box.maxY < viewMinY || box.minY > viewMaxY) continue;
    const shown = v.tierShown(box.id);
    const x = toX(box.minX - 0.7 * v.pitch), y = toY(box.minY - 0.7 * v.pitch);
    const w = (box.maxX - box.minX + 1.4 * v.pitch) * s, hh = (box.maxY - box.minY + 1.4 * v.pitch) * s;
    const avail = v.availability(box.id);
    if (pitchPx < DOT_PX) {
      ctx.globalAlpha = shown ? 1 : 0.25;
      ctx.fillStyle = heat(avail?.available ?? 0, avail?.capacity ?? box.seats.length).fill;
      roundRect(ctx, x, y, w, hh, 4);
      ctx.fill();
      ctx.globalAlpha = 1;
      sectionText(ctx, box, x, y, w, hh, avail, '#ffffff');
    } else {
      ctx.fillStyle = shown ? '#ffffff' : '#f1f5f9';
      ctx.strokeStyle = '#94a3b8';
      ctx.lineWidth = 1;
      roundRect(ctx, x, y, w, hh, 6);
      ctx.fill();
      ctx.stroke();
      seats += drawSeats(v, ctx, box, toX, toY, pitchPx, shown);
      ctx.fillStyle = '#111827';
      ctx.font = `700 ${clamp(pitchPx * 0.9, 11, 18)}px system-ui, sans-serif`;
      ctx.textAlign = 'left';
      ctx.textBaseline = 'bottom';
      ctx.fillText(box.name, x, y - 3);
    }
  }
  performance.measure('venuemap-draw', { start: started, end: performance.now(), detail: { seats } });
  if (performance.getEntriesByName('venuemap-draw').length > 600) performance.clearMeasures('venuemap-draw');
}

function sectionText(ctx: CanvasRenderingContext2D, box: SectionBox, x: number, y: number, w: number, hh: number,
  avail: SectionAvailability | undefined, colour: string): void {
  const size = clamp(Math.min(w / 8, hh / 3.2), 0, 20);
  if (size < 8) return;
  ctx.fillStyle = colour;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.font = `700 ${size}px system-ui, sans-serif`;
  ctx.fillText(box.name, x + w / 2, y + hh / 2 - size * 0.6);
  ctx.font = `400 ${size * 0.85}px system-ui, sans-serif`;
  const left = avail ? (avail.available ? `${avail.available.toLocaleString()} left` : 'Sold out') : '';
  ctx.fillText(left, x + w / 2, y + hh / 2 + size * 0.6);
}

function drawSeats(v: VenueView, ctx: CanvasRenderingContext2D, box: SectionBox, toX: (x: number) => number, toY: (y: number) => number,
  pitchPx: number, shown: boolean): number {
  let drawn = 0;
  const size = pitchPx * 0.8;
  const half = size / 2;
  const tier = v.tierColour(box.id);
  // Batch by paint: one path per colour keeps a 50,000-seat frame to a few milliseconds.
  const paths = new Map<string, Path2D>();
  const marks = new Path2D();
  const darkMarks = new Path2D(); // on light fills (held, blocked)
  const detail = pitchPx >= TAP_TARGET_PX;
  const add = (fill: string, x: number, y: number) => {
    let p = paths.get(fill);
    if (!p) paths.set(fill, (p = new Path2D()));
    p.rect(x - half, y - half, size, size);
  };
  const { width, height } = v.size();
  for (const seat of box.seats) {
    const x = toX(seat.x), y = toY(seat.y);
    if (!inView(x, y, pitchPx, width, height)) continue;
    drawn++;
    const status = v.statusOf(seat);
    const mine = status === 'HELD' && v.isMine(seat.id);
    const selected = !mine && v.isSelected(seat.id);
    if (selected || mine) {
      add('#111827', x, y);
      if (detail) tick(marks, x, y, size);
    } else if (status === 'AVAILABLE') add(shown ? tier : '#cbd5e1', x, y);
    else if (status === 'HELD') {
      add('#d1d5db', x, y);
      if (detail) hatch(darkMarks, x, y, size);
    } else if (status === 'SOLD') {
      add('#374151', x, y);
      if (detail) cross(marks, x, y, size);
    } else {
      add('#e5e7eb', x, y);
      if (detail) darkMarks.moveTo(x - half * 0.6, y), darkMarks.lineTo(x + half * 0.6, y);
    }
  }
  for (const [fill, path] of paths) {
    ctx.fillStyle = fill;
    ctx.fill(path);
  }
  if (!detail) return drawn;
  ctx.strokeStyle = '#ffffff';
  ctx.lineWidth = Math.max(1.5, size * 0.12);
  ctx.lineCap = 'round';
  ctx.stroke(marks);
  ctx.strokeStyle = '#374151';
  ctx.stroke(darkMarks);
  ctx.fillStyle = '#ffffff';
  ctx.font = `${size * 0.62}px system-ui, sans-serif`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  for (const seat of box.seats) {
    if (!seat.accessible && !seat.obstructedView) continue;
    const x = toX(seat.x), y = toY(seat.y);
    if (!inView(x, y, pitchPx, width, height)) continue;
    if (seat.accessible && v.statusOf(seat) === 'AVAILABLE' && !v.isSelected(seat.id)) ctx.fillText('♿', x, y + 1);
    if (seat.obstructedView) {
      ctx.fillStyle = '#fde047';
      ctx.beginPath();
      ctx.moveTo(x - half, y - half);
      ctx.lineTo(x - half + size * 0.45, y - half);
      ctx.lineTo(x - half, y - half + size * 0.45);
      ctx.fill();
      ctx.fillStyle = '#ffffff';
    }
  }
  return drawn;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function roundRect(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, hh: number, r: number): void {
  ctx.beginPath();
  ctx.roundRect(x, y, w, hh, Math.min(r, w / 2, hh / 2));
}

function tick(p: Path2D, x: number, y: number, size: number): void {
  p.moveTo(x - size * 0.28, y);
  p.lineTo(x - size * 0.08, y + size * 0.22);
  p.lineTo(x + size * 0.3, y - size * 0.24);
}

function cross(p: Path2D, x: number, y: number, size: number): void {
  const d = size * 0.26;
  p.moveTo(x - d, y - d);
  p.lineTo(x + d, y + d);
  p.moveTo(x + d, y - d);
  p.lineTo(x - d, y + d);
}

function hatch(p: Path2D, x: number, y: number, size: number): void {
  const d = size * 0.3;
  p.moveTo(x - d, y + d);
  p.lineTo(x + d, y - d);
}
