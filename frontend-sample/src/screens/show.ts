// The show page: live seat map, section availability, general-admission quantities, and holds.
//
// Live updates: read `availability.version` first, then subscribe to seatChanges with
// sinceVersion = that version, so nothing between the snapshot and the subscription is missed;
// every seat change goes through SeatState, which ignores versions older than the one it holds.
import {
  describeError, describeProblem, gql, gqlIdempotent, newIdempotencyKey, onLiveState, HOLD_PROBLEM_FIELDS,
  problemOf, serverNow, subscribe, syncServerClock,
} from '../api';
import { currentUser } from '../auth';
import { announce, busy, fill, h, notice } from '../dom';
import { dateTime, money, plural } from '../format';
import { currentPath, navigate, titled, type ScreenContext } from '../router';
import { SeatMap, SeatState, seatLegend, seatName } from '../seatmap';
import { activeHold, admission } from '../session';
import type { Hold, PriceTier, Rejected, Seat, SeatDelta, SeatsUnavailable, SectionAvailability, WaitingRoomSettings } from '../types';
import { countdown, HOLD_FIELDS, holdLines } from '../widgets';

/** Above this many reserved seats the map is drawn one section at a time (a stadium has 50,000). */
const WHOLE_MAP_LIMIT = 6000;

const SEAT_FIELDS = 'id sectionId section row number status version priceCents accessible obstructedView x y';

const SHOW = `
  query Show($id: ID!) {
    show(id: $id) {
      id startsAt onSaleAt currency holdTtlSeconds maxTicketsPerUser
      event { id name venue { id name city } }
      priceTiers { id name priceCents sectionIds }
      waitingRoom { enabled admitPerMinute admissionTtlSeconds queueLength }
      availability { version sections { sectionId name generalAdmission capacity available } }
    }
  }`;

const SEATS = `
  query ShowSeats($id: ID!, $sectionId: ID) {
    show(id: $id) { id seats(sectionId: $sectionId) { ${SEAT_FIELDS} } }
  }`;

const SEAT_CHANGES = `
  subscription SeatChanges($showId: ID!, $sinceVersion: Int) {
    seatChanges(showId: $showId, sinceVersion: $sinceVersion) {
      showId version
      seats { seatId status version }
      sections { sectionId name generalAdmission capacity available }
    }
  }`;

const HOLD = `query Hold($id: ID!) { hold(id: $id) { __typename ${HOLD_FIELDS} } }`;

const HOLD_SEATS = `
  mutation HoldSeats($input: HoldSeatsInput!) {
    holdSeats(input: $input) { __typename ... on Hold { ${HOLD_FIELDS} } ${HOLD_PROBLEM_FIELDS} }
  }`;

const RELEASE_HOLD = `
  mutation ReleaseHold($holdId: ID!) {
    releaseHold(holdId: $holdId) { __typename ... on Hold { ${HOLD_FIELDS} } ${HOLD_PROBLEM_FIELDS} }
  }`;

interface ShowDetail {
  id: string;
  startsAt: string;
  onSaleAt: string | null;
  currency: string;
  holdTtlSeconds: number;
  maxTicketsPerUser: number;
  event: { id: string; name: string; venue: { id: string; name: string; city: string } };
  priceTiers: PriceTier[];
  waitingRoom: WaitingRoomSettings & { admissionTtlSeconds: number };
  availability: { version: number; sections: SectionAvailability[] };
}

type HoldResult = Hold | SeatsUnavailable | Rejected;

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
  private map: SeatMap | null = null;
  private currentSection: string | null = null;
  private version: number;

  // Regions of the page, filled in as things change.
  private readonly mapHost = h('div', { class: 'map-host' });
  private readonly sectionPicker = h('div', { class: 'section-picker' });
  private readonly availabilityBody = h('tbody');
  private readonly gaHost = h('div', { class: 'ga-pickers' });
  private readonly summary = h('div', { class: 'selection-summary' });
  private readonly messages = h('div', { class: 'messages' });
  private readonly holdPanel = h('section', { class: 'hold-panel card', 'aria-labelledby': 'hold-title', hidden: true });
  private readonly holdButton = h('button', { type: 'button', class: 'button primary hold-button' }, 'Hold seats');

  constructor(private readonly ctx: ScreenContext, private readonly show: ShowDetail) {
    this.version = show.availability.version;
    for (const section of show.availability.sections) this.sections.set(section.sectionId, section);
    for (const tier of show.priceTiers) for (const id of tier.sectionIds) this.priceBySection.set(id, tier.priceCents);
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
        h('a', { href: `#/events/${encodeURIComponent(show.event.id)}` }, show.event.name), ' › ', dateTime(show.startsAt)),
      heading,
      h('p', { class: 'lead' }, `${dateTime(show.startsAt)} · ${show.event.venue.name}, ${show.event.venue.city}`),
      live,
      notOnSale ? notice('info', `Tickets go on sale ${dateTime(show.onSaleAt!)}.`) : null,
      h('div', { class: 'show-layout' },
        h('section', { class: 'map-column', 'aria-labelledby': 'map-title' },
          h('h2', { id: 'map-title' }, this.reservedSections.length ? 'Seat map' : 'Tickets'),
          this.reservedSections.length ? this.sectionPicker : null,
          this.mapHost,
          this.reservedSections.length ? seatLegend(show.priceTiers, show.currency) : null),
        h('aside', { class: 'side-column' },
          this.holdPanel,
          h('section', { class: 'card', 'aria-labelledby': 'pick-title' },
            h('h2', { id: 'pick-title' }, 'Your selection'),
            h('p', { class: 'muted' }, `Up to ${plural(show.maxTicketsPerUser, 'ticket')} per person. Seats are held for ${Math.round(show.holdTtlSeconds / 60)} minutes while you pay.`),
            this.gaHost,
            this.summary,
            this.messages,
            this.holdButton),
          h('section', { class: 'card', 'aria-labelledby': 'avail-title' },
            h('h2', { id: 'avail-title' }, 'Availability'),
            h('table', { class: 'availability' },
              h('caption', { class: 'visually-hidden' }, 'Places left per section'),
              h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Section'), h('th', { scope: 'col' }, 'Price'), h('th', { scope: 'col' }, 'Left'))),
              this.availabilityBody)))));
    titled(root, heading, show.event.name);

    this.renderSections();
    this.renderGaPickers();
    this.renderSummary();
    this.ctx.onLeave(this.state.onChange((ids) => this.onSeatsChanged(ids)));
    this.subscribeToChanges();
    void this.restoreHold();
    if (this.reservedSections.length) {
      if (this.wholeMap) void this.loadSeats(null);
      else this.renderSectionPicker();
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
          this.updateGaLimits();
          if (!this.wholeMap) this.renderSectionPicker();
        }
      },
      error: (message) => this.messages.replaceChildren(notice('info', `Live seat updates are unavailable (${message}). Reload the page to see the latest seats.`)),
    });
    this.ctx.onLeave(stop);
  }

  private async loadSeats(sectionId: string | null): Promise<void> {
    this.currentSection = sectionId;
    this.mapHost.replaceChildren(h('p', { class: 'loading', role: 'status' }, 'Loading seats…'));
    let seats: Seat[];
    try {
      const { show } = await gql<{ show: { seats: Seat[] } | null }>(SEATS, { id: this.show.id, sectionId }, this.ctx.signal);
      seats = show?.seats ?? [];
    } catch (error) {
      if (!this.ctx.signal.aborted) this.mapHost.replaceChildren(notice('error', describeError(error)));
      return;
    }
    if (this.currentSection !== sectionId) return; // another section was picked meanwhile
    // Seed the version barrier: a live change newer than this fetch wins, an older one loses.
    this.state.seed(seats);
    this.map?.destroy();
    const sectionName = sectionId ? this.sections.get(sectionId)?.name : null;
    this.map = new SeatMap({
      seats,
      state: this.state,
      tiers: this.show.priceTiers,
      currency: this.show.currency,
      label: `Seat map${sectionName ? `, ${sectionName}` : ''}, ${this.show.event.name}`,
      isSelected: (id) => this.selection.has(id),
      isMine: (id) => !!this.hold?.seats.some((seat) => seat.id === id),
      onToggle: (seat) => this.toggle(seat),
    });
    this.mapHost.replaceChildren(this.map.element);
  }

  private onSeatsChanged(ids: string[]): void {
    const lost = ids.filter((id) => this.selection.has(id) && this.state.status(id) !== 'AVAILABLE');
    if (!lost.length) return;
    const names = lost.map((id) => seatName(this.selection.get(id)!));
    for (const id of lost) this.selection.delete(id);
    this.map?.refresh(lost);
    this.renderSummary();
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
    this.renderSummary();
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
      navigate(`/login?next=${encodeURIComponent(currentPath())}`);
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
        navigate(`/login?next=${encodeURIComponent(currentPath())}`);
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
    this.renderGaPickers();
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
    this.holdButton.disabled = held || count === 0;
    this.holdButton.textContent = count ? `Hold ${plural(count, 'ticket')} · ${money(this.totalCents(), this.show.currency)}` : 'Hold seats';
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

  /** Big venues: one button per section; the chosen section's seats are loaded and drawn on demand. */
  private renderSectionPicker(): void {
    const focused = document.activeElement instanceof HTMLElement && this.sectionPicker.contains(document.activeElement)
      ? document.activeElement.dataset.sectionId : null;
    this.sectionPicker.replaceChildren(
      h('p', { id: 'section-picker-help' }, 'This venue is large: choose a section to see its seats.'),
      h('ul', { class: 'section-buttons', 'aria-describedby': 'section-picker-help' }, ...this.reservedSections.map((section) => {
        const button = h('button', {
          type: 'button',
          class: 'button section-button',
          'data-section-id': section.sectionId,
          'aria-pressed': String(this.currentSection === section.sectionId),
        },
        h('span', { class: 'section-name' }, section.name),
        h('span', {}, money(this.priceBySection.get(section.sectionId) ?? 0, this.show.currency)),
        h('span', {}, section.available ? `${section.available.toLocaleString()} left` : 'Sold out'));
        button.addEventListener('click', () => {
          void this.loadSeats(section.sectionId).then(() => {
            const first = this.mapHost.querySelector<SVGGElement>('.seat[tabindex="0"]');
            first?.focus();
          });
          this.renderSectionPicker();
        });
        return h('li', {}, button);
      })));
    if (focused) this.sectionPicker.querySelector<HTMLElement>(`[data-section-id="${focused}"]`)?.focus();
  }

  private renderGaPickers(): void {
    const sections = this.gaSections;
    if (!sections.length) {
      this.gaHost.replaceChildren();
      return;
    }
    this.gaHost.replaceChildren(
      h('h3', {}, 'Standing tickets'),
      ...sections.map((section) => {
        const id = `ga-${section.sectionId}`;
        const price = money(this.priceBySection.get(section.sectionId) ?? 0, this.show.currency);
        const input = h('input', {
          id, type: 'number', inputmode: 'numeric', min: 0, value: this.gaQuantity.get(section.sectionId) ?? 0,
          'data-section-id': section.sectionId, 'aria-describedby': `${id}-hint`, disabled: !!this.hold,
        });
        const set = (value: number): void => {
          const max = this.gaMax(section.sectionId);
          const quantity = Math.max(0, Math.min(max, Math.floor(Number.isFinite(value) ? value : 0)));
          if (quantity !== value) announce(`Up to ${max} for ${section.name}.`);
          input.value = String(quantity);
          this.gaQuantity.set(section.sectionId, quantity);
          this.renderSummary();
        };
        input.addEventListener('change', () => set(input.valueAsNumber));
        const minus = h('button', { type: 'button', class: 'button stepper', 'aria-label': `One fewer for ${section.name}`, disabled: !!this.hold }, '−');
        const plus = h('button', { type: 'button', class: 'button stepper', 'aria-label': `One more for ${section.name}`, disabled: !!this.hold }, '+');
        minus.addEventListener('click', () => set((this.gaQuantity.get(section.sectionId) ?? 0) - 1));
        plus.addEventListener('click', () => set((this.gaQuantity.get(section.sectionId) ?? 0) + 1));
        return h('div', { class: 'field ga-picker' },
          h('label', { for: id }, `${section.name} — ${price} each`),
          h('div', { class: 'stepper-row' }, minus, input, plus),
          h('p', { class: 'hint', id: `${id}-hint`, 'data-ga-hint': section.sectionId }, this.gaHint(section)));
      }));
    this.updateGaLimits();
  }

  private gaMax(sectionId: string): number {
    const others = this.ticketCount() - (this.gaQuantity.get(sectionId) ?? 0);
    return Math.max(0, Math.min(this.sections.get(sectionId)?.available ?? 0, this.show.maxTicketsPerUser - others));
  }

  private gaHint(section: SectionAvailability): string {
    return section.available ? `${section.available.toLocaleString()} of ${section.capacity.toLocaleString()} left` : 'Sold out';
  }

  private updateGaLimits(): void {
    for (const section of this.gaSections) {
      const input = this.gaHost.querySelector<HTMLInputElement>(`input[data-section-id="${section.sectionId}"]`);
      if (input) input.max = String(this.gaMax(section.sectionId));
      const hint = this.gaHost.querySelector<HTMLElement>(`[data-ga-hint="${section.sectionId}"]`);
      if (hint) hint.textContent = this.gaHint(section);
    }
  }
}
