// The seats a fan holds for this show: the hold placed from the selection (the Hold button), found again
// after a reload (its id is kept per show in sessionStorage), and its panel with the countdown to
// `expiresAt`, Check out and Release.
import { describeError, describeProblem, gql, gqlIdempotent, newIdempotencyKey, problemOf, serverNow } from '../api';
import { currentUser } from '../auth';
import { announce, busy, h, notice } from '../dom';
import { money } from '../format';
import { currentPath, navigate, type ScreenContext } from '../router';
import type { SeatState } from '../seatmap';
import { activeHold, admission } from '../session';
import type { Hold } from '../types';
import { countdown, holdLines } from '../widgets';
import { HOLD, HOLD_SEATS, RELEASE_HOLD, type HoldResult, type ShowDetail } from './show-queries';
import type { SeatSelection } from './show-selection';
import type { ShowSections } from './show-sections';

export interface HoldOptions {
  ctx: ScreenContext;
  show: ShowDetail;
  state: SeatState;
  sections: ShowSections;
  selection: SeatSelection;
  /** Where the page tells the fan what happened. */
  messages: HTMLElement;
  /** The admission token from the waiting room, when the show has one and it is still valid. */
  admissionToken(): string | null;
  /** Repaints these seats on the map. */
  repaint(ids: string[]): void;
}

export class ShowHold {
  readonly panel = h('section', { class: 'hold-panel card', 'aria-labelledby': 'hold-title', hidden: true });
  private hold: Hold | null = null;

  constructor(private readonly options: HoldOptions) {}

  get active(): boolean {
    return !!this.hold;
  }

  /** True for the seats of the fan's hold. */
  holds(seatId: string): boolean {
    return !!this.hold?.seats.some((seat) => seat.id === seatId);
  }

  /** The hold this tab made for the show, if it is still active. */
  async restore(): Promise<void> {
    const { show, ctx } = this.options;
    const holdId = activeHold.get(show.id);
    if (!holdId || !currentUser()) return;
    try {
      const { hold } = await gql<{ hold: Hold | null }>(HOLD, { id: holdId }, ctx.signal);
      if (hold?.status === 'ACTIVE' && Date.parse(hold.expiresAt) > serverNow()) this.set(hold);
      else activeHold.set(show.id, null);
    } catch {
      /* the hold panel is a convenience; the seat map still works */
    }
  }

  /** Holds what the fan selected; an anonymous fan is sent to log in first. */
  async place(): Promise<void> {
    const { show, selection, messages } = this.options;
    if (!currentUser()) return this.logIn();
    if (selection.ticketCount() === 0) return;
    const input = {
      showId: show.id,
      seatIds: selection.seatIds(),
      generalAdmission: selection.generalAdmission(),
      // One key per attempt: a retry after a network failure returns this same hold, never a second one.
      idempotencyKey: newIdempotencyKey(),
      admissionToken: this.options.admissionToken(),
    };
    busy(selection.holdButton, true, 'Holding…');
    messages.replaceChildren();
    try {
      const { holdSeats } = await gqlIdempotent<{ holdSeats: HoldResult }>(HOLD_SEATS, { input });
      const problem = problemOf(holdSeats);
      if (!problem) {
        selection.clear();
        this.set(holdSeats as Hold);
        announce('Seats held. Check out before the timer runs out.');
        return;
      }
      if (problem.__typename === 'SeatsUnavailable') {
        selection.forget(problem.seatIds);
      } else if (problem.code === 'ADMISSION_REQUIRED') {
        admission.set(show.id, null);
        messages.replaceChildren(notice('error', describeProblem(problem),
          h('a', { href: `#/shows/${encodeURIComponent(show.id)}/queue`, class: 'button' }, 'Join the waiting room')));
        return;
      } else if (problem.code === 'UNAUTHENTICATED') {
        return this.logIn();
      }
      messages.replaceChildren(notice('error', describeProblem(problem)));
    } catch (error) {
      messages.replaceChildren(notice('error', describeError(error)));
    } finally {
      busy(selection.holdButton, false);
      selection.render();
    }
  }

  private logIn(): void {
    // Saved for this tab, the selection is here again after the log-in.
    this.options.selection.changed();
    navigate(`/login?reason=hold&next=${encodeURIComponent(currentPath())}`);
  }

  private set(hold: Hold | null): void {
    const { show, state, selection } = this.options;
    const before = this.hold?.seats.map((s) => s.id) ?? [];
    this.hold = hold;
    activeHold.set(show.id, hold?.id ?? null);
    if (hold) state.seed(hold.seats);
    this.options.repaint([...before, ...(hold?.seats.map((s) => s.id) ?? [])]);
    this.renderPanel();
    selection.ga.render();
    selection.render();
  }

  private renderPanel(): void {
    const { ctx, messages, state } = this.options;
    const hold = this.hold;
    this.panel.hidden = !hold;
    if (!hold) {
      this.panel.replaceChildren();
      return;
    }
    const panelSignal = new AbortController();
    ctx.signal.addEventListener('abort', () => panelSignal.abort());
    const release = h('button', { type: 'button', class: 'button' }, 'Release seats');
    release.addEventListener('click', async () => {
      busy(release, true, 'Releasing…');
      try {
        const { releaseHold } = await gql<{ releaseHold: HoldResult }>(RELEASE_HOLD, { holdId: hold.id });
        const problem = problemOf(releaseHold);
        if (problem && problem.code !== 'HOLD_NOT_ACTIVE') {
          messages.replaceChildren(notice('error', describeProblem(problem)));
          busy(release, false, 'Release seats');
          return;
        }
        if (!problem) state.seed((releaseHold as Hold).seats);
        panelSignal.abort();
        this.set(null);
        messages.replaceChildren(notice('success', 'Your seats were released.'));
      } catch (error) {
        messages.replaceChildren(notice('error', describeError(error)));
        busy(release, false, 'Release seats');
      }
    });
    const timer = countdown(hold.expiresAt, panelSignal.signal, () => {
      panelSignal.abort();
      this.set(null);
      messages.replaceChildren(notice('error', 'Your hold expired and the seats went back on sale. Please pick seats again.'));
    });
    this.panel.replaceChildren(
      h('h2', { id: 'hold-title' }, 'Seats held for you'),
      timer,
      holdLines(hold, this.options.sections.all),
      h('p', { class: 'total' }, 'Total ', h('strong', {}, money(hold.totalCents, hold.currency))),
      h('div', { class: 'actions' },
        h('a', { class: 'button primary checkout-link', href: `#/checkout/${encodeURIComponent(hold.id)}` }, 'Check out'),
        release));
  }
}
