// Live seat state with a version barrier, the tier colours, and a seat and its status in words.
//
// SeatState keeps, per seat, the newest (status, version) seen from any source — the initial
// `Show.seats` load, a later per-section load, or a `seatChanges` message — and ignores anything
// older, so replays and races between a fetch and a live message can never roll a seat back.
// The map itself is venuemap.ts; its key, with the price filter, is price-filter.ts.
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
export const TIER_COLOURS = ['#1d4ed8', '#b45309', '#047857', '#7e22ce', '#be123c', '#0e7490'];
export const TIER_COUNT = TIER_COLOURS.length;

export function tierIndexBySection(tiers: PriceTier[]): Map<string, number> {
  const index = new Map<string, number>();
  tiers.forEach((tier, i) => tier.sectionIds.forEach((id) => index.set(id, i % TIER_COUNT)));
  return index;
}

export function statusWords(status: SeatStatus, selected: boolean, mine: boolean): string {
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
