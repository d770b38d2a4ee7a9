// What the fan has picked on the show page — seats (by hand on the map, or found by "Best available")
// and standing quantities — kept per show in sessionStorage so it survives a log-in, and the card that
// lists it above the Hold button (a bottom sheet on a phone, so both stay in reach).
import { currentUser } from '../auth';
import { announce, h, notice } from '../dom';
import { money, plural } from '../format';
import { GaPickers } from '../ga-pickers';
import { seatName, type SeatState } from '../seatmap';
import { pendingSelection } from '../session';
import type { Seat } from '../types';
import type { ShowDetail } from './show-queries';
import type { ShowSections } from './show-sections';

export interface SelectionOptions {
  show: ShowDetail;
  sections: ShowSections;
  state: SeatState;
  /** Where the page tells the fan what happened. */
  messages: HTMLElement;
  /** False for sections of a price tier the fan filtered out: their seats cannot be picked. */
  tierShown(sectionId: string): boolean;
  /** True while the fan holds seats for this show: the selection cannot change. */
  held(): boolean;
  /** Repaints these seats on the map (every seat without ids). */
  repaint(ids?: string[]): void;
  onHold(): void;
}

export class SeatSelection {
  readonly ga: GaPickers;
  readonly holdButton = h('button', { type: 'button', class: 'button primary hold-button' }, 'Hold seats');
  private readonly seats = new Map<string, Seat>();
  private readonly gaQuantity = new Map<string, number>();
  private readonly summary = h('div', { class: 'selection-summary' });
  private readonly loginReason = h('p', { class: 'login-reason', hidden: true },
    'Seats are held for an account, so log in (or sign up) to hold them: your selection is kept while you do.');

  constructor(private readonly options: SelectionOptions) {
    this.ga = new GaPickers({
      sections: () => options.sections.generalAdmission,
      quantities: this.gaQuantity,
      price: (sectionId) => options.sections.price(sectionId),
      maxTickets: options.show.maxTicketsPerUser,
      ticketCount: () => this.ticketCount(),
      locked: () => options.held(),
      onChange: () => this.changed(),
    });
    this.holdButton.addEventListener('click', () => options.onHold());
  }

  sheet(): HTMLElement {
    const { show } = this.options;
    return h('section', { class: 'card selection-sheet', 'aria-labelledby': 'pick-title' },
      h('h2', { id: 'pick-title' }, 'Your selection'),
      h('p', { class: 'muted sheet-extra' }, `Up to ${plural(show.maxTicketsPerUser, 'ticket')} per person. Seats are held for ${Math.round(show.holdTtlSeconds / 60)} minutes while you pay.`),
      this.summary,
      this.options.messages,
      this.loginReason,
      this.holdButton);
  }

  has(seatId: string): boolean {
    return this.seats.has(seatId);
  }

  seatIds(): string[] {
    return [...this.seats.keys()];
  }

  /** The standing quantities picked (sections with none left out). */
  generalAdmission(): { sectionId: string; quantity: number }[] {
    return [...this.gaQuantity].filter(([, q]) => q > 0).map(([sectionId, quantity]) => ({ sectionId, quantity }));
  }

  ticketCount(): number {
    return this.seats.size + [...this.gaQuantity.values()].reduce((a, b) => a + b, 0);
  }

  /** The selection kept from before a log-in, if any. */
  restore(): void {
    const saved = pendingSelection.get(this.options.show.id);
    if (!saved) return;
    for (const seat of saved.seats) this.seats.set(seat.id, seat);
    for (const line of saved.generalAdmission) if (this.options.sections.get(line.sectionId)) this.gaQuantity.set(line.sectionId, line.quantity);
  }

  /** A seat clicked or pressed on the map: in if it can be, out if it was. */
  toggle(seat: Seat): void {
    if (this.heldAlready()) return;
    if (this.seats.has(seat.id)) {
      this.seats.delete(seat.id);
      announce(`${seatName(seat)} deselected.`);
    } else {
      const status = this.options.state.status(seat.id) ?? seat.status;
      if (!this.options.tierShown(seat.sectionId)) return;
      if (status !== 'AVAILABLE') {
        announce(`${seatName(seat)} is not available.`);
        return;
      }
      if (this.ticketCount() >= this.options.show.maxTicketsPerUser) {
        this.options.messages.replaceChildren(notice('info', `You can pick up to ${plural(this.options.show.maxTicketsPerUser, 'ticket')} for this show.`));
        return;
      }
      this.seats.set(seat.id, seat);
      announce(`${seatName(seat)} selected.`);
    }
    this.options.messages.replaceChildren();
    this.options.repaint([seat.id]);
    this.changed();
  }

  /** The seats "Best available" found become the whole selection. False while seats are held. */
  replaceWith(seats: Seat[]): boolean {
    if (this.heldAlready()) return false;
    const before = [...this.seats.keys()];
    this.seats.clear();
    this.gaQuantity.clear();
    this.options.state.seed(seats);
    for (const seat of seats) this.seats.set(seat.id, seat);
    this.options.repaint([...before, ...seats.map((seat) => seat.id)]);
    this.ga.render();
    this.changed();
    this.options.messages.replaceChildren(notice('success', `Best available: ${seats.map(seatName).join('; ')}. Hold them to buy, or pick others on the map.`));
    return true;
  }

  /** Seats of these that are no longer available leave the selection, and the fan is told they were `taken`. */
  dropTaken(ids: string[], taken: string): void {
    const lost = ids.filter((id) => this.seats.has(id) && this.options.state.status(id) !== 'AVAILABLE');
    if (!lost.length) return;
    const names = lost.map((id) => seatName(this.seats.get(id)!));
    this.forget(lost);
    this.changed();
    this.options.messages.replaceChildren(notice('info', `${names.join('; ')} ${lost.length === 1 ? 'was' : 'were'} ${taken} and removed from your selection.`));
  }

  /** Seats of a tier the fan just filtered out leave the selection (they are no longer pickable). */
  dropFilteredOut(): void {
    const hidden = [...this.seats.values()].filter((seat) => !this.options.tierShown(seat.sectionId));
    for (const seat of hidden) this.seats.delete(seat.id);
    if (hidden.length) this.changed();
  }

  /** Takes seats out of the selection (and repaints them) without saving it. */
  forget(ids: string[]): void {
    for (const id of ids) this.seats.delete(id);
    this.options.repaint(ids);
  }

  /** Empties the selection, saved copy included: it has become a hold. */
  clear(): void {
    this.seats.clear();
    this.gaQuantity.clear();
    pendingSelection.set(this.options.show.id, null);
  }

  /** Saves the selection for this tab (it is here again after a log-in) and shows it. */
  changed(): void {
    pendingSelection.set(this.options.show.id, { seats: [...this.seats.values()], generalAdmission: this.generalAdmission() });
    this.render();
  }

  render(): void {
    const { show, sections } = this.options;
    const count = this.ticketCount();
    const held = this.options.held();
    const anonymous = !currentUser();
    const total = money(this.totalCents(), show.currency);
    this.holdButton.disabled = held || count === 0;
    this.holdButton.textContent = !count ? 'Hold seats'
      : anonymous ? `Log in to hold these seats · ${total}` : `Hold ${plural(count, 'ticket')} · ${total}`;
    this.loginReason.hidden = !anonymous || !count || held;
    if (held) {
      this.summary.replaceChildren(h('p', {}, 'Your seats are held — see above.'));
      return;
    }
    if (!count) {
      this.summary.replaceChildren(h('p', { class: 'muted' }, sections.reserved.length ? 'Pick seats on the map.' : 'Choose how many tickets you want.'));
      return;
    }
    this.summary.replaceChildren(h('ul', { class: 'line-items' },
      ...[...this.seats.values()].map((seat) => h('li', {}, h('span', {}, seatName(seat)), h('span', {}, money(seat.priceCents, show.currency)))),
      ...this.generalAdmission().map(({ sectionId, quantity }) =>
        h('li', {}, h('span', {}, `${quantity} × ${sections.get(sectionId)?.name ?? 'General admission'}`), h('span', {}, money(quantity * sections.priceCents(sectionId), show.currency))))));
  }

  private totalCents(): number {
    let total = 0;
    for (const seat of this.seats.values()) total += seat.priceCents;
    for (const [sectionId, quantity] of this.gaQuantity) total += quantity * this.options.sections.priceCents(sectionId);
    return total;
  }

  /** While seats are held, the selection stays as it is: says so and returns true. */
  private heldAlready(): boolean {
    if (!this.options.held()) return false;
    this.options.messages.replaceChildren(notice('info', 'You already hold seats for this show: check out or release them before picking others.'));
    return true;
  }
}
