// Fetching the seats of the show's map: a venue of up to WHOLE_MAP_LIMIT reserved seats in one request,
// a bigger one a section per request (the server lists at most 10,000 seats per request; a stadium has
// 50,000), SECTION_FETCHES_AT_ONCE at a time, each handed over as it arrives so it is drawn at once.
import { gql } from '../api';
import type { Seat, SectionAvailability } from '../types';
import { SEATS } from './show-queries';

const WHOLE_MAP_LIMIT = 6000;
const SECTION_FETCHES_AT_ONCE = 2;

export class SeatLoader {
  /** Per-section fetches, so "zoom to section" can wait for its seats. */
  private readonly loads = new Map<string, Promise<void>>();

  constructor(private readonly showId: string, private readonly signal: AbortSignal, private readonly onSeats: (seats: Seat[]) => void) {}

  /** Every seat of these (reserved) sections. */
  async loadAll(sections: SectionAvailability[]): Promise<void> {
    if (sections.reduce((n, s) => n + s.capacity, 0) <= WHOLE_MAP_LIMIT) {
      const all = this.load(null);
      for (const section of sections) this.loads.set(section.sectionId, all);
      await all;
      return;
    }
    const queue = [...sections];
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) await this.section(next.sectionId);
    };
    await Promise.all(Array.from({ length: SECTION_FETCHES_AT_ONCE }, worker));
  }

  /** The seats of one section, fetched once. */
  section(sectionId: string): Promise<void> {
    let load = this.loads.get(sectionId);
    if (!load) this.loads.set(sectionId, (load = this.load(sectionId)));
    return load;
  }

  /** The seats of one section, or all for null. */
  private async load(sectionId: string | null): Promise<void> {
    const { show } = await gql<{ show: { seats: Seat[] } | null }>(SEATS, { id: this.showId, sectionId }, this.signal);
    this.onSeats(show?.seats ?? []);
  }
}
