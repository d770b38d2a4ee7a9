// The show page: live seat map, section availability, general-admission quantities, and holds.
//
// Live updates: read `availability.version` first, then subscribe to seatChanges with
// sinceVersion = that version, so nothing between the snapshot and the subscription is missed;
// every seat change goes through SeatState, which ignores versions older than the one it holds.
//
// This module lays the page out and wires its parts: the sections (show-sections.ts), the selection
// and its bottom sheet (show-selection.ts), the hold (show-hold.ts), the map's seats (show-seats.ts),
// the map (venuemap.ts), its key and price filter (price-filter.ts), and "Best available".
import { describeError, gql, onLiveState, serverNow, subscribe, syncServerClock } from '../api';
import { bestAvailablePanel } from '../best-available';
import { fill, h, notice } from '../dom';
import { dateTime } from '../format';
import { PriceFilter } from '../price-filter';
import { missing, navigate, titled, type ScreenContext } from '../router';
import { SeatState } from '../seatmap';
import { admission } from '../session';
import type { Seat, SeatDelta } from '../types';
import { VenueMap } from '../venuemap';
import { ShowHold } from './show-hold';
import { SEAT_CHANGES, SHOW, type ShowDetail } from './show-queries';
import { SeatLoader } from './show-seats';
import { ShowSections } from './show-sections';
import { SeatSelection } from './show-selection';

export async function showScreen(ctx: ScreenContext): Promise<void> {
  const { root, params, signal } = ctx;
  root.append(h('p', { class: 'loading', role: 'status' }, 'Loading the show…'));
  let show: ShowDetail | null;
  try {
    [{ show }] = await Promise.all([gql<{ show: ShowDetail | null }>(SHOW, { id: params.id }, signal), syncServerClock()]);
  } catch (error) {
    root.replaceChildren(notice('error', describeError(error)));
    return;
  }
  if (!show) {
    missing(root, 'Show not found', 'Not found', h('p', {}, h('a', { href: '#/' }, 'Back to all events')));
    return;
  }

  // A show behind a waiting room: go through the queue first (it hands back an admission token).
  if (show.waitingRoom.enabled && !validAdmission(show.id)) {
    navigate(`/shows/${encodeURIComponent(show.id)}/queue`, { replace: true });
    return;
  }
  new ShowPage(ctx, show).start();
}

function validAdmission(showId: string): string | null {
  const a = admission.get(showId);
  if (!a?.token) return null;
  if (a.expiresAt && Date.parse(a.expiresAt) <= serverNow()) return null;
  return a.token;
}

class ShowPage {
  private readonly state = new SeatState();
  private readonly sections: ShowSections;
  private readonly filter: PriceFilter;
  private readonly selection: SeatSelection;
  private readonly hold: ShowHold;
  private readonly seats: SeatLoader;
  private map: VenueMap | null = null;
  private version: number;

  // Regions of the page, filled in as things change.
  private readonly mapHost = h('div', { class: 'map-host' });
  private readonly messages = h('div', { class: 'messages' });

  constructor(private readonly ctx: ScreenContext, private readonly show: ShowDetail) {
    this.version = show.availability.version;
    this.sections = new ShowSections(show, (sectionId) => this.zoomTo(sectionId, true));
    this.filter = new PriceFilter(show.priceTiers, show.currency, () => this.filterChanged());
    const repaint = (ids?: string[]): void => this.map?.refresh(ids);
    this.selection = new SeatSelection({
      show, sections: this.sections, state: this.state, messages: this.messages, repaint,
      tierShown: (sectionId) => this.filter.shows(sectionId),
      held: () => this.hold.active,
      onHold: () => void this.hold.place(),
    });
    this.hold = new ShowHold({
      ctx, show, state: this.state, sections: this.sections, selection: this.selection, messages: this.messages, repaint,
      admissionToken: () => (show.waitingRoom.enabled ? validAdmission(show.id) : null),
    });
    this.seats = new SeatLoader(show.id, ctx.signal, (seats) => this.seatsArrived(seats));
  }

  private get zone(): string {
    return this.show.event.venue.timeZone;
  }

  start(): void {
    const { root, signal } = this.ctx;
    const show = this.show;
    const reserved = this.sections.reserved.length > 0;
    const heading = h('h1', {}, show.event.name);
    const live = h('p', { class: 'live-indicator', role: 'status' });
    this.ctx.onLeave(onLiveState((state) => {
      live.dataset.state = state;
      live.textContent = state === 'live' ? 'Live: seats update as others buy' : state === 'connecting' ? 'Connecting to live updates…' : 'Reconnecting live updates…';
    }));
    const notOnSale = show.onSaleAt && Date.parse(show.onSaleAt) > serverNow();

    fill(root,
      h('p', { class: 'breadcrumbs' },
        h('a', { href: '#/' }, 'Events'), ' › ',
        h('a', { href: `#/events/${encodeURIComponent(show.event.id)}` }, show.event.name), ' › ', dateTime(show.startsAt, this.zone)),
      heading,
      h('p', { class: 'lead' }, `${dateTime(show.startsAt, this.zone)} · ${show.event.venue.name}, ${show.event.venue.city}`),
      live,
      notOnSale ? notice('info', `Tickets go on sale ${dateTime(show.onSaleAt!, this.zone)}.`) : null,
      show.availability.sections.every((x) => x.available === 0) ? h('p', { class: 'waitlist-link' }, 'Sold out? ',
        h('a', { href: `#/shows/${encodeURIComponent(show.id)}/waitlist` }, 'Join the waitlist')) : null,
      h('div', { class: 'show-layout' },
        h('section', { class: 'map-column', 'aria-labelledby': 'map-title' },
          h('h2', { id: 'map-title' }, reserved ? 'Seat map' : 'Tickets'),
          this.mapHost,
          reserved ? this.sections.picker : null,
          reserved ? this.filter.element : null),
        h('aside', { class: 'side-column' },
          this.hold.panel,
          this.sections.generalAdmission.length ? h('section', { class: 'card' }, this.selection.ga.element) : null,
          reserved ? h('section', { class: 'card' }, bestAvailablePanel({
            showId: show.id, tiers: show.priceTiers.filter((t) => t.sectionIds.some((id) => !this.sections.get(id)?.generalAdmission)),
            currency: show.currency, maxTickets: show.maxTicketsPerUser, signal,
            onFound: (seats) => this.takeBestAvailable(seats),
          })) : null,
          // On a phone this card is a bottom sheet: the selection and the Hold button stay in reach.
          this.selection.sheet(),
          this.sections.availabilityCard())));
    titled(root, heading, show.event.name);

    this.selection.restore();
    this.selection.ga.render();
    this.selection.render();
    this.ctx.onLeave(this.state.onChange((ids) => this.selection.dropTaken(ids, 'just taken by someone else')));
    this.subscribeToChanges();
    void this.hold.restore();
    if (reserved) {
      this.sections.renderPicker();
      void this.loadMap();
    }
    signal.addEventListener('abort', () => this.map?.destroy());
  }

  private subscribeToChanges(): void {
    const stop = subscribe<{ seatChanges: SeatDelta }>(SEAT_CHANGES, { showId: this.show.id, sinceVersion: this.version }, {
      next: ({ seatChanges }) => {
        this.version = Math.max(this.version, seatChanges.version);
        this.state.apply(seatChanges.seats);
        if (seatChanges.sections.length) {
          this.sections.update(seatChanges.sections);
          this.selection.ga.updateLimits();
        }
      },
      error: (message) => this.messages.replaceChildren(notice('info', `Live seat updates are unavailable (${message}). Reload the page to see the latest seats.`)),
    });
    this.ctx.onLeave(stop);
  }

  /** Draws the venue, its seats drawn as they arrive. */
  private async loadMap(): Promise<void> {
    this.map = new VenueMap({
      state: this.state,
      tiers: this.show.priceTiers,
      currency: this.show.currency,
      label: `Seat map, ${this.show.event.name}`,
      stageLabel: ['STAGE', ...this.sections.generalAdmission.map((s) => `${s.name} (standing)`)].join(' · '),
      availability: (id) => this.sections.get(id),
      isSelected: (id) => this.selection.has(id),
      isMine: (id) => this.hold.holds(id),
      tierShown: (sectionId) => this.filter.shows(sectionId),
      onToggle: (seat) => this.selection.toggle(seat),
    });
    const status = h('p', { class: 'loading', role: 'status' }, 'Loading seats…');
    this.mapHost.replaceChildren(this.map.element, status);
    try {
      await this.seats.loadAll(this.sections.reserved);
      status.remove();
    } catch (error) {
      if (!this.ctx.signal.aborted) status.replaceWith(notice('error', describeError(error)));
    }
  }

  private seatsArrived(seats: Seat[]): void {
    // Seed the version barrier: a live change newer than this fetch wins, an older one loses.
    this.state.seed(seats);
    this.map?.addSeats(seats);
    // Seats kept from before a log-in that were taken meanwhile are dropped, and the fan is told.
    this.selection.dropTaken(seats.map((seat) => seat.id), 'taken while you were away');
  }

  /** Zooms the map to a section once its seats are here. */
  private zoomTo(sectionId: string, focus = false): void {
    void this.seats.section(sectionId).then(() => this.map?.zoomToSection(sectionId, focus));
  }

  private filterChanged(): void {
    this.selection.dropFilteredOut();
    this.map?.refresh();
  }

  private takeBestAvailable(seats: Seat[]): void {
    if (this.selection.replaceWith(seats)) this.zoomTo(seats[0].sectionId);
  }
}
