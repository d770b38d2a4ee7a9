// The show page: live seat map, section availability, general-admission quantities, and holds.
//
// Live updates: read `availability.version` first, then subscribe to seatChanges with
// sinceVersion = that version, so nothing between the snapshot and the subscription is missed;
// every seat change goes through SeatState, which ignores versions older than the one it holds.
import {
  describeError, describeProblem, gql, gqlIdempotent, newIdempotencyKey, onLiveState,
  problemOf, serverNow, subscribe, syncServerClock,
} from '../api';
import { currentUser } from '../auth';
import { announce, busy, fill, h, notice } from '../dom';
import { dateTime, money, plural } from '../format';
import { currentPath, navigate, titled, type ScreenContext } from '../router';
import { bestAvailablePanel } from '../best-available';
import { GaPickers } from '../ga-pickers';
import { SeatState, seatName, tierLegend } from '../seatmap';
import { activeHold, admission, pendingSelection } from '../session';
import { VenueMap } from '../venuemap';
import type { Hold, Seat, SeatDelta, SectionAvailability } from '../types';
import { countdown, holdLines } from '../widgets';
import { HOLD, HOLD_SEATS, RELEASE_HOLD, SEAT_CHANGES, SEATS, SHOW, type HoldResult, type ShowDetail } from './show-queries';

/** Above this many reserved seats the map's seats are fetched a section per request (the server lists at
 * most 10,000 seats per request; a stadium has 50,000), two requests at a time, drawn as they arrive. */
const WHOLE_MAP_LIMIT = 6000;
const SECTION_FETCHES_AT_ONCE = 2;

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
    const heading = h('h1', {}, 'Show not found');
    root.replaceChildren(heading, h('p', {}, h('a', { href: '#/' }, 'Back to all events')));
    titled(root, heading, 'Not found');
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
  private readonly sections = new Map<string, SectionAvailability>();
  private readonly priceBySection = new Map<string, number>();
  private readonly selection = new Map<string, Seat>();
  private readonly gaQuantity = new Map<string, number>();
  private hold: Hold | null = null;
  private map: VenueMap | null = null;
  /** Price tiers the fan wants to see (the price filter); all at first. */
  private readonly tiersShown: Set<string>;
  private readonly tierOfSection = new Map<string, string>();
  /** Per-section seat fetches of a big venue, so "zoom to section" can wait for its seats. */
  private readonly sectionLoads = new Map<string, Promise<void>>();
  private version: number;

  // Regions of the page, filled in as things change.
  private readonly mapHost = h('div', { class: 'map-host' });
  private readonly sectionPicker = h('div', { class: 'section-picker' });
  private readonly availabilityBody = h('tbody');
  private readonly ga: GaPickers;
  private readonly summary = h('div', { class: 'selection-summary' });
  private readonly messages = h('div', { class: 'messages' });
  private readonly holdPanel = h('section', { class: 'hold-panel card', 'aria-labelledby': 'hold-title', hidden: true });
  private readonly holdButton = h('button', { type: 'button', class: 'button primary hold-button' }, 'Hold seats');
  private readonly loginReason = h('p', { class: 'login-reason', hidden: true },
    'Seats are held for an account, so log in (or sign up) to hold them: your selection is kept while you do.');

  constructor(private readonly ctx: ScreenContext, private readonly show: ShowDetail) {
    this.version = show.availability.version;
    for (const section of show.availability.sections) this.sections.set(section.sectionId, section);
    for (const tier of show.priceTiers) {
      for (const id of tier.sectionIds) {
        this.priceBySection.set(id, tier.priceCents);
        this.tierOfSection.set(id, tier.id);
      }
    }
    this.tiersShown = new Set(show.priceTiers.map((tier) => tier.id));
    this.ga = new GaPickers({
      sections: () => this.gaSections,
      quantities: this.gaQuantity,
      price: (sectionId) => money(this.priceBySection.get(sectionId) ?? 0, show.currency),
      maxTickets: show.maxTicketsPerUser,
      ticketCount: () => this.ticketCount(),
      locked: () => !!this.hold,
      onChange: () => this.selectionChanged(),
    });
  }

  private get zone(): string {
    return this.show.event.venue.timeZone;
  }

  private get reservedSections(): SectionAvailability[] {
    return [...this.sections.values()].filter((s) => !s.generalAdmission);
  }

  private get gaSections(): SectionAvailability[] {
    return [...this.sections.values()].filter((s) => s.generalAdmission);
  }

  private get wholeMap(): boolean {
    return this.reservedSections.reduce((n, s) => n + s.capacity, 0) <= WHOLE_MAP_LIMIT;
  }

  start(): void {
    const { root, signal } = this.ctx;
    const show = this.show;
    const heading = h('h1', {}, show.event.name);
    const live = h('p', { class: 'live-indicator', role: 'status' });
    this.ctx.onLeave(onLiveState((state) => {
      live.dataset.state = state;
      live.textContent = state === 'live' ? 'Live: seats update as others buy' : state === 'connecting' ? 'Connecting to live updates…' : 'Reconnecting live updates…';
    }));
    const notOnSale = show.onSaleAt && Date.parse(show.onSaleAt) > serverNow();

    this.holdButton.addEventListener('click', () => void this.placeHold());
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
          h('h2', { id: 'map-title' }, this.reservedSections.length ? 'Seat map' : 'Tickets'),
          this.mapHost,
          this.reservedSections.length ? this.sectionPicker : null,
          this.reservedSections.length ? tierLegend(show.priceTiers, show.currency, this.tiersShown, () => this.filterChanged()) : null),
        h('aside', { class: 'side-column' },
          this.holdPanel,
          this.gaSections.length ? h('section', { class: 'card' }, this.ga.element) : null,
          this.reservedSections.length ? h('section', { class: 'card' }, bestAvailablePanel({
            showId: show.id, tiers: show.priceTiers.filter((t) => t.sectionIds.some((id) => !this.sections.get(id)?.generalAdmission)),
            currency: show.currency, maxTickets: show.maxTicketsPerUser, signal,
            onFound: (seats) => this.takeBestAvailable(seats),
          })) : null,
          // On a phone this card is a bottom sheet: the selection and the Hold button stay in reach.
          h('section', { class: 'card selection-sheet', 'aria-labelledby': 'pick-title' },
            h('h2', { id: 'pick-title' }, 'Your selection'),
            h('p', { class: 'muted sheet-extra' }, `Up to ${plural(show.maxTicketsPerUser, 'ticket')} per person. Seats are held for ${Math.round(show.holdTtlSeconds / 60)} minutes while you pay.`),
            this.summary,
            this.messages,
            this.loginReason,
            this.holdButton),
          h('section', { class: 'card', 'aria-labelledby': 'avail-title' },
            h('h2', { id: 'avail-title' }, 'Availability'),
            h('table', { class: 'availability' },
              h('caption', { class: 'visually-hidden' }, 'Places left per section'),
              h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Section'), h('th', { scope: 'col' }, 'Price'), h('th', { scope: 'col' }, 'Left'))),
              this.availabilityBody)))));
    titled(root, heading, show.event.name);

    this.restoreSelection();
    this.renderSections();
    this.ga.render();
    this.renderSummary();
    this.ctx.onLeave(this.state.onChange((ids) => this.onSeatsChanged(ids)));
    this.subscribeToChanges();
    void this.restoreHold();
    if (this.reservedSections.length) {
      this.renderSectionPicker();
      void this.loadMap();
    }
    signal.addEventListener('abort', () => this.map?.destroy());
  }

  // ------------------------------------------------------------ live data

  private subscribeToChanges(): void {
    const stop = subscribe<{ seatChanges: SeatDelta }>(SEAT_CHANGES, { showId: this.show.id, sinceVersion: this.version }, {
      next: ({ seatChanges }) => {
        this.version = Math.max(this.version, seatChanges.version);
        this.state.apply(seatChanges.seats);
        for (const section of seatChanges.sections) this.sections.set(section.sectionId, section);
        if (seatChanges.sections.length) {
          this.renderSections();
          this.ga.updateLimits();
          this.renderSectionPicker();
        }
      },
      error: (message) => this.messages.replaceChildren(notice('info', `Live seat updates are unavailable (${message}). Reload the page to see the latest seats.`)),
    });
    this.ctx.onLeave(stop);
  }

  /** Draws the venue: every seat of a small venue in one fetch; a big one section by section. */
  private async loadMap(): Promise<void> {
    this.map = new VenueMap({
      state: this.state,
      tiers: this.show.priceTiers,
      currency: this.show.currency,
      label: `Seat map, ${this.show.event.name}`,
      stageLabel: ['STAGE', ...this.gaSections.map((s) => `${s.name} (standing)`)].join(' · '),
      availability: (id) => this.sections.get(id),
      isSelected: (id) => this.selection.has(id),
      isMine: (id) => !!this.hold?.seats.some((seat) => seat.id === id),
      tierShown: (sectionId) => this.tiersShown.has(this.tierOfSection.get(sectionId) ?? ''),
      onToggle: (seat) => this.toggle(seat),
    });
    const status = h('p', { class: 'loading', role: 'status' }, 'Loading seats…');
    this.mapHost.replaceChildren(this.map.element, status);
    try {
      if (this.wholeMap) {
        const all = this.loadSection(null);
        for (const section of this.reservedSections) this.sectionLoads.set(section.sectionId, all);
        await all;
      } else {
        const queue = [...this.reservedSections];
        const worker = async (): Promise<void> => {
          for (let next = queue.shift(); next; next = queue.shift()) await this.ensureSection(next.sectionId);
        };
        await Promise.all(Array.from({ length: SECTION_FETCHES_AT_ONCE }, worker));
      }
      status.remove();
    } catch (error) {
      if (!this.ctx.signal.aborted) status.replaceWith(notice('error', describeError(error)));
    }
  }

  /** The seats of one section (or all, for null), fetched once. */
  private ensureSection(sectionId: string): Promise<void> {
    let load = this.sectionLoads.get(sectionId);
    if (!load) this.sectionLoads.set(sectionId, (load = this.loadSection(sectionId)));
    return load;
  }

  private async loadSection(sectionId: string | null): Promise<void> {
    const { show } = await gql<{ show: { seats: Seat[] } | null }>(SEATS, { id: this.show.id, sectionId }, this.ctx.signal);
    const seats = show?.seats ?? [];
    // Seed the version barrier: a live change newer than this fetch wins, an older one loses.
    this.state.seed(seats);
    this.map?.addSeats(seats);
    this.dropUnavailableSelection(seats.map((seat) => seat.id));
  }

  private filterChanged(): void {
    // Seats of a tier the fan just filtered out leave the selection (they are no longer pickable).
    const hidden = [...this.selection.values()].filter((seat) => !this.tiersShown.has(this.tierOfSection.get(seat.sectionId) ?? ''));
    for (const seat of hidden) this.selection.delete(seat.id);
    if (hidden.length) this.selectionChanged();
    this.map?.refresh();
    announce(`Showing ${plural(this.tiersShown.size, 'price')} of ${this.show.priceTiers.length}.`);
  }

  private takeBestAvailable(seats: Seat[]): void {
    if (this.hold) {
      this.messages.replaceChildren(notice('info', 'You already hold seats for this show: check out or release them before picking others.'));
      return;
    }
    const before = [...this.selection.keys()];
    this.selection.clear();
    this.gaQuantity.clear();
    this.state.seed(seats);
    for (const seat of seats) this.selection.set(seat.id, seat);
    this.map?.refresh([...before, ...seats.map((seat) => seat.id)]);
    this.ga.render();
    this.selectionChanged();
    this.messages.replaceChildren(notice('success', `Best available: ${seats.map(seatName).join('; ')}. Hold them to buy, or pick others on the map.`));
    void this.ensureSection(seats[0].sectionId).then(() => this.map?.zoomToSection(seats[0].sectionId));
  }

  // ------------------------------------------------------------ kept selection

  private restoreSelection(): void {
    const saved = pendingSelection.get(this.show.id);
    if (!saved) return;
    for (const seat of saved.seats) this.selection.set(seat.id, seat);
    for (const line of saved.generalAdmission) if (this.sections.has(line.sectionId)) this.gaQuantity.set(line.sectionId, line.quantity);
  }

  /** Seats restored from before a log-in that were taken meanwhile are dropped, and the fan is told. */
  private dropUnavailableSelection(loadedIds: string[]): void {
    const lost = loadedIds.filter((id) => this.selection.has(id) && this.state.status(id) !== 'AVAILABLE');
    if (!lost.length) return;
    const names = lost.map((id) => seatName(this.selection.get(id)!));
    for (const id of lost) this.selection.delete(id);
    this.selectionChanged();
    this.messages.replaceChildren(notice('info', `${names.join('; ')} ${lost.length === 1 ? 'was' : 'were'} taken while you were away and removed from your selection.`));
  }

  private selectionChanged(): void {
    pendingSelection.set(this.show.id, {
      seats: [...this.selection.values()],
      generalAdmission: [...this.gaQuantity].filter(([, q]) => q > 0).map(([sectionId, quantity]) => ({ sectionId, quantity })),
    });
    this.renderSummary();
  }

  private onSeatsChanged(ids: string[]): void {
    const lost = ids.filter((id) => this.selection.has(id) && this.state.status(id) !== 'AVAILABLE');
    if (!lost.length) return;
    const names = lost.map((id) => seatName(this.selection.get(id)!));
    for (const id of lost) this.selection.delete(id);
    this.map?.refresh(lost);
    this.selectionChanged();
    const text = `${names.join('; ')} ${lost.length === 1 ? 'was' : 'were'} just taken by someone else and removed from your selection.`;
    this.messages.replaceChildren(notice('info', text));
  }

  // ------------------------------------------------------------ selection

  private toggle(seat: Seat): void {
    if (this.hold) {
      this.messages.replaceChildren(notice('info', 'You already hold seats for this show: check out or release them before picking others.'));
      return;
    }
    if (this.selection.has(seat.id)) {
      this.selection.delete(seat.id);
      announce(`${seatName(seat)} deselected.`);
    } else {
      const status = this.state.status(seat.id) ?? seat.status;
      if (!this.tiersShown.has(this.tierOfSection.get(seat.sectionId) ?? '')) return;
      if (status !== 'AVAILABLE') {
        announce(`${seatName(seat)} is not available.`);
        return;
      }
      if (this.ticketCount() >= this.show.maxTicketsPerUser) {
        this.messages.replaceChildren(notice('info', `You can pick up to ${plural(this.show.maxTicketsPerUser, 'ticket')} for this show.`));
        return;
      }
      this.selection.set(seat.id, seat);
      announce(`${seatName(seat)} selected.`);
    }
    this.messages.replaceChildren();
    this.map?.refresh([seat.id]);
    this.selectionChanged();
  }

  private ticketCount(): number {
    return this.selection.size + [...this.gaQuantity.values()].reduce((a, b) => a + b, 0);
  }

  private totalCents(): number {
    let total = 0;
    for (const seat of this.selection.values()) total += seat.priceCents;
    for (const [sectionId, quantity] of this.gaQuantity) total += quantity * (this.priceBySection.get(sectionId) ?? 0);
    return total;
  }

  // ------------------------------------------------------------ holds

  private async restoreHold(): Promise<void> {
    const holdId = activeHold.get(this.show.id);
    if (!holdId || !currentUser()) return;
    try {
      const { hold } = await gql<{ hold: Hold | null }>(HOLD, { id: holdId }, this.ctx.signal);
      if (hold?.status === 'ACTIVE' && Date.parse(hold.expiresAt) > serverNow()) this.setHold(hold);
      else activeHold.set(this.show.id, null);
    } catch {
      /* the hold panel is a convenience; the seat map still works */
    }
  }

  private async placeHold(): Promise<void> {
    if (!currentUser()) {
      // The selection is already in sessionStorage (selectionChanged): it is here again after log-in.
      this.selectionChanged();
      navigate(`/login?reason=hold&next=${encodeURIComponent(currentPath())}`);
      return;
    }
    if (this.ticketCount() === 0) return;
    const input = {
      showId: this.show.id,
      seatIds: [...this.selection.keys()],
      generalAdmission: [...this.gaQuantity].filter(([, q]) => q > 0).map(([sectionId, quantity]) => ({ sectionId, quantity })),
      // One key per attempt: a retry after a network failure returns this same hold, never a second one.
      idempotencyKey: newIdempotencyKey(),
      admissionToken: this.show.waitingRoom.enabled ? validAdmission(this.show.id) : null,
    };
    busy(this.holdButton, true, 'Holding…');
    this.messages.replaceChildren();
    try {
      const { holdSeats } = await gqlIdempotent<{ holdSeats: HoldResult }>(HOLD_SEATS, { input });
      const problem = problemOf(holdSeats);
      if (!problem) {
        this.selection.clear();
        this.gaQuantity.clear();
        pendingSelection.set(this.show.id, null);
        this.setHold(holdSeats as Hold);
        announce('Seats held. Check out before the timer runs out.');
        return;
      }
      if (problem.__typename === 'SeatsUnavailable') {
        for (const id of problem.seatIds) this.selection.delete(id);
        this.map?.refresh(problem.seatIds);
      } else if (problem.code === 'ADMISSION_REQUIRED') {
        admission.set(this.show.id, null);
        this.messages.replaceChildren(notice('error', describeProblem(problem),
          h('a', { href: `#/shows/${encodeURIComponent(this.show.id)}/queue`, class: 'button' }, 'Join the waiting room')));
        return;
      } else if (problem.code === 'UNAUTHENTICATED') {
        this.selectionChanged();
        navigate(`/login?reason=hold&next=${encodeURIComponent(currentPath())}`);
        return;
      }
      this.messages.replaceChildren(notice('error', describeProblem(problem)));
    } catch (error) {
      this.messages.replaceChildren(notice('error', describeError(error)));
    } finally {
      busy(this.holdButton, false);
      this.renderSummary();
    }
  }

  private setHold(hold: Hold | null): void {
    const before = this.hold?.seats.map((s) => s.id) ?? [];
    this.hold = hold;
    activeHold.set(this.show.id, hold?.id ?? null);
    if (hold) this.state.seed(hold.seats);
    this.map?.refresh([...before, ...(hold?.seats.map((s) => s.id) ?? [])]);
    this.renderHoldPanel();
    this.ga.render();
    this.renderSummary();
  }

  private renderHoldPanel(): void {
    const hold = this.hold;
    this.holdPanel.hidden = !hold;
    if (!hold) {
      this.holdPanel.replaceChildren();
      return;
    }
    const panelSignal = new AbortController();
    this.ctx.signal.addEventListener('abort', () => panelSignal.abort());
    const release = h('button', { type: 'button', class: 'button' }, 'Release seats');
    release.addEventListener('click', async () => {
      busy(release, true, 'Releasing…');
      try {
        const { releaseHold } = await gql<{ releaseHold: HoldResult }>(RELEASE_HOLD, { holdId: hold.id });
        const problem = problemOf(releaseHold);
        if (problem && problem.code !== 'HOLD_NOT_ACTIVE') {
          this.messages.replaceChildren(notice('error', describeProblem(problem)));
          busy(release, false, 'Release seats');
          return;
        }
        if (!problem) this.state.seed((releaseHold as Hold).seats);
        panelSignal.abort();
        this.setHold(null);
        this.messages.replaceChildren(notice('success', 'Your seats were released.'));
      } catch (error) {
        this.messages.replaceChildren(notice('error', describeError(error)));
        busy(release, false, 'Release seats');
      }
    });
    const timer = countdown(hold.expiresAt, panelSignal.signal, () => {
      panelSignal.abort();
      this.setHold(null);
      this.messages.replaceChildren(notice('error', 'Your hold expired and the seats went back on sale. Please pick seats again.'));
    });
    this.holdPanel.replaceChildren(
      h('h2', { id: 'hold-title' }, 'Seats held for you'),
      timer,
      holdLines(hold, [...this.sections.values()]),
      h('p', { class: 'total' }, 'Total ', h('strong', {}, money(hold.totalCents, hold.currency))),
      h('div', { class: 'actions' },
        h('a', { class: 'button primary checkout-link', href: `#/checkout/${encodeURIComponent(hold.id)}` }, 'Check out'),
        release));
  }

  // ------------------------------------------------------------ rendering

  private renderSummary(): void {
    const count = this.ticketCount();
    const held = !!this.hold;
    const anonymous = !currentUser();
    this.holdButton.disabled = held || count === 0;
    this.holdButton.textContent = !count ? 'Hold seats'
      : anonymous ? `Log in to hold these seats · ${money(this.totalCents(), this.show.currency)}`
        : `Hold ${plural(count, 'ticket')} · ${money(this.totalCents(), this.show.currency)}`;
    this.loginReason.hidden = !anonymous || !count || held;
    if (held) {
      this.summary.replaceChildren(h('p', {}, 'Your seats are held — see above.'));
      return;
    }
    if (!count) {
      this.summary.replaceChildren(h('p', { class: 'muted' }, this.reservedSections.length ? 'Pick seats on the map.' : 'Choose how many tickets you want.'));
      return;
    }
    this.summary.replaceChildren(h('ul', { class: 'line-items' },
      ...[...this.selection.values()].map((seat) => h('li', {}, h('span', {}, seatName(seat)), h('span', {}, money(seat.priceCents, this.show.currency)))),
      ...[...this.gaQuantity].filter(([, q]) => q > 0).map(([id, q]) =>
        h('li', {}, h('span', {}, `${q} × ${this.sections.get(id)?.name ?? 'General admission'}`), h('span', {}, money(q * (this.priceBySection.get(id) ?? 0), this.show.currency))))));
  }

  private renderSections(): void {
    this.availabilityBody.replaceChildren(...[...this.sections.values()].map((section) =>
      h('tr', { 'data-section-id': section.sectionId },
        h('th', { scope: 'row' }, section.name, section.generalAdmission ? h('abbr', { class: 'muted ga-tag', title: 'general admission (standing)' }, ' GA') : null),
        h('td', {}, money(this.priceBySection.get(section.sectionId) ?? 0, this.show.currency)),
        h('td', { class: section.available ? '' : 'sold-out' },
          section.available ? `${section.available.toLocaleString()} / ${section.capacity.toLocaleString()}` : 'Sold out'))));
  }

  /** One button per section (with price and places left): zooms the map to it — the map's text alternative too. */
  private renderSectionPicker(): void {
    const focused = document.activeElement instanceof HTMLElement && this.sectionPicker.contains(document.activeElement)
      ? document.activeElement.dataset.sectionId : null;
    this.sectionPicker.replaceChildren(
      h('h3', { id: 'section-picker-help' }, 'Sections'),
      h('ul', { class: 'section-buttons', 'aria-labelledby': 'section-picker-help' }, ...this.reservedSections.map((section) => {
        const button = h('button', { type: 'button', class: 'button section-button', 'data-section-id': section.sectionId },
          h('span', { class: 'section-name' }, section.name),
          h('span', {}, money(this.priceBySection.get(section.sectionId) ?? 0, this.show.currency)),
          h('span', {}, section.available ? `${section.available.toLocaleString()} left` : 'Sold out'));
        button.addEventListener('click', () => {
          void this.ensureSection(section.sectionId).then(() => this.map?.zoomToSection(section.sectionId, true));
        });
        return h('li', {}, button);
      })));
    if (focused) this.sectionPicker.querySelector<HTMLElement>(`[data-section-id="${focused}"]`)?.focus();
  }
}
