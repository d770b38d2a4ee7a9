// Where the seats are, in venue units (`Seat.x/y`): each section's box, the venue's bounds, the seat
// pitch, the stage, and the lines of seats the arrow keys move along. Built up as seats arrive (a big
// venue comes a section at a time); no view, no drawing, no DOM.
import type { Seat } from './types';

export interface Bounds { minX: number; minY: number; maxX: number; maxY: number }

export interface SectionBox extends Bounds { id: string; name: string; seats: Seat[] }

/** A move between seats: along the line, to its ends, or that many lines down (up when negative). */
export type SeatMove = 'left' | 'right' | 'first' | 'last' | number;

export class VenueGeometry {
  readonly seats = new Map<string, Seat>();
  readonly sections = new Map<string, SectionBox>();
  private box: Bounds = { minX: 0, minY: 0, maxX: 1, maxY: 1 };
  private seatPitch = 1;
  private lines: Seat[][] = [];
  private readonly position = new Map<string, { line: number; index: number }>();

  get bounds(): Bounds {
    return this.box;
  }

  /** Distance between neighbouring seats of a row. */
  get pitch(): number {
    return this.seatPitch;
  }

  /** Adds seats (a whole small venue, or one more section of a big one); seats already known are skipped. */
  add(seats: Seat[]): void {
    for (const seat of seats) {
      if (this.seats.has(seat.id)) continue;
      this.seats.set(seat.id, seat);
      let box = this.sections.get(seat.sectionId);
      if (!box) this.sections.set(seat.sectionId, (box = { id: seat.sectionId, name: seat.section, minX: seat.x, minY: seat.y, maxX: seat.x, maxY: seat.y, seats: [] }));
      box.minX = Math.min(box.minX, seat.x);
      box.maxX = Math.max(box.maxX, seat.x);
      box.minY = Math.min(box.minY, seat.y);
      box.maxY = Math.max(box.maxY, seat.y);
      box.seats.push(seat);
    }
    const boxes = [...this.sections.values()];
    this.box = {
      minX: Math.min(...boxes.map((b) => b.minX)), minY: Math.min(...boxes.map((b) => b.minY)),
      maxX: Math.max(...boxes.map((b) => b.maxX)), maxY: Math.max(...boxes.map((b) => b.maxY)),
    };
    this.buildLines();
  }

  /** The section whose box (give or take a unit) holds a point of the venue. */
  sectionAt(x: number, y: number): SectionBox | undefined {
    return [...this.sections.values()].find((b) => x >= b.minX - 1 && x <= b.maxX + 1 && y >= b.minY - 1 && y <= b.maxY + 1);
  }

  /** The seat a move leads to from `from`, staying within its section; undefined at an edge. */
  neighbour(from: Seat, move: SeatMove): Seat | undefined {
    const at = this.position.get(from.id);
    if (!at) return undefined;
    const line = this.lines[at.line];
    switch (move) {
      case 'left': return line[at.index - 1];
      case 'right': return line[at.index + 1];
      case 'first': return line[0];
      case 'last': return line[line.length - 1];
      default: return this.nearestIn(at.line, move, from);
    }
  }

  private buildLines(): void {
    const byY = new Map<string, Seat[]>();
    for (const seat of this.seats.values()) {
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
    if (row) this.seatPitch = Math.max(0.1, row[1].x - row[0].x);
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

/** Stage size in venue units, in proportion to the venue. */
export function stageOf(v: { bounds: Bounds; pitch: number }): { width: number; height: number; gap: number } {
  const b = v.bounds;
  const height = Math.max(3 * v.pitch, 0.08 * (b.maxY - b.minY));
  return { width: (b.maxX - b.minX) * 0.5, height, gap: Math.max(2.5 * v.pitch, height * 0.5) };
}

/** True when a point on screen (CSS px) lies in a width × height view or within `margin` of it. */
export function inView(x: number, y: number, margin: number, width: number, height: number): boolean {
  return x >= -margin && y >= -margin && x <= width + margin && y <= height + margin;
}
