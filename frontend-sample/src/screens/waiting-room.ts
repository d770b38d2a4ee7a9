// The waiting room: join the queue, watch your place move (subscription, with polling as a
// fallback), and once admitted keep the admission token for holdSeats and go to the seat map.
import { describeError, describeProblem, gql, REJECTED_FIELDS, problemOf, subscribe, syncServerClock } from '../api';
import { currentUser } from '../auth';
import { announce, h, notice } from '../dom';
import { dateTime, roughDuration } from '../format';
import { currentPath, navigate, titled, type ScreenContext } from '../router';
import { admission } from '../session';
import type { Rejected, WaitingRoomTicket } from '../types';

const TICKET_FIELDS = 'id showId status position estimatedWaitSeconds admissionToken admissionExpiresAt';

const SHOW = `query QueueShow($id: ID!) { show(id: $id) { id startsAt event { name venue { timeZone } } waitingRoom { enabled queueLength admitPerMinute } } }`;
const ENTER = `
  mutation EnterWaitingRoom($showId: ID!) {
    enterWaitingRoom(showId: $showId) { __typename ... on WaitingRoomTicket { ${TICKET_FIELDS} } ${REJECTED_FIELDS} }
  }`;
const TICKET = `query WaitingRoomTicket($id: ID!) { waitingRoomTicket(id: $id) { __typename ${TICKET_FIELDS} } }`;
const UPDATES = `subscription WaitingRoom($ticketId: ID!) { waitingRoom(ticketId: $ticketId) { __typename ${TICKET_FIELDS} } }`;

const POLL_MS = 3000;

interface QueueShow {
  id: string;
  startsAt: string;
  event: { name: string; venue: { timeZone: string } };
  waitingRoom: { enabled: boolean; queueLength: number; admitPerMinute: number };
}

export async function waitingRoomScreen({ root, params, signal }: ScreenContext): Promise<void> {
  if (!currentUser()) {
    navigate(`/login?next=${encodeURIComponent(currentPath())}`, { replace: true });
    return;
  }
  const showPath = `/shows/${encodeURIComponent(params.id)}`;
  root.append(h('p', { class: 'loading', role: 'status' }, 'Joining the waiting room…'));
  let show: QueueShow | null;
  try {
    [{ show }] = await Promise.all([gql<{ show: QueueShow | null }>(SHOW, { id: params.id }, signal), syncServerClock()]);
  } catch (error) {
    root.replaceChildren(notice('error', describeError(error)));
    return;
  }
  if (!show) {
    root.replaceChildren(notice('error', 'This show does not exist.'));
    return;
  }
  if (!show.waitingRoom.enabled) {
    navigate(showPath, { replace: true });
    return;
  }

  const heading = h('h1', {}, 'You are in the waiting room');
  const position = h('p', { class: 'queue-position' });
  const eta = h('p', { class: 'queue-eta' });
  const live = h('div', { class: 'queue-live', role: 'status', 'aria-live': 'polite' }, position, eta);
  const messages = h('div');
  root.replaceChildren(
    h('p', { class: 'breadcrumbs' }, h('a', { href: '#/' }, 'Events'), ' › ', show.event.name),
    heading,
    h('p', { class: 'lead' }, `${show.event.name} · ${dateTime(show.startsAt, show.event.venue.timeZone)}`),
    h('section', { class: 'card queue-card' },
      h('p', {}, 'Lots of people want tickets for this show. We let people in a few at a time so everyone gets a fair chance. Keep this page open — it updates by itself and takes you to the seat map when it is your turn.'),
      live,
      messages));
  titled(root, heading, 'Waiting room');

  const enter = async (): Promise<WaitingRoomTicket | null> => {
    const { enterWaitingRoom } = await gql<{ enterWaitingRoom: WaitingRoomTicket | Rejected }>(ENTER, { showId: params.id }, signal);
    const problem = problemOf(enterWaitingRoom);
    if (problem) {
      messages.replaceChildren(notice('error', describeProblem(problem)));
      return null;
    }
    return enterWaitingRoom as WaitingRoomTicket;
  };

  let ticket: WaitingRoomTicket | null;
  try {
    ticket = await enter();
  } catch (error) {
    messages.replaceChildren(notice('error', describeError(error)));
    return;
  }
  if (!ticket) return;
  const ticketId = ticket.id;
  let lastPosition: number | null = null;
  let poller = 0;
  let stopSubscription = (): void => undefined;

  const update = (next: WaitingRoomTicket): void => {
    if (signal.aborted) return;
    if (next.status === 'ADMITTED') {
      stopSubscription();
      window.clearInterval(poller);
      admission.set(params.id, { ticketId, token: next.admissionToken, expiresAt: next.admissionExpiresAt });
      position.textContent = 'It is your turn!';
      eta.textContent = next.admissionExpiresAt ? `Pick your seats before ${dateTime(next.admissionExpiresAt, show.event.venue.timeZone)}.` : '';
      announce('It is your turn. Taking you to the seat map.');
      window.setTimeout(() => navigate(showPath, { replace: true }), 800);
      return;
    }
    if (next.status === 'EXPIRED') {
      stopSubscription();
      window.clearInterval(poller);
      admission.set(params.id, null);
      // Joining again gives a new ticket at the back of the queue: this screen again, from the start.
      const again = h('button', { type: 'button', class: 'button primary' }, 'Join the queue again');
      again.addEventListener('click', () => navigate(currentPath(), { replace: true }));
      position.textContent = 'Your place in the queue expired.';
      eta.textContent = '';
      messages.replaceChildren(again);
      return;
    }
    if (next.position !== lastPosition) {
      lastPosition = next.position;
      position.replaceChildren('Your place in line: ', h('strong', {}, next.position === null ? 'being assigned…' : String(next.position)));
    }
    eta.textContent = next.estimatedWaitSeconds !== null ? `Estimated wait: ${roughDuration(next.estimatedWaitSeconds)}.` : '';
  };

  const poll = (): void => {
    gql<{ waitingRoomTicket: WaitingRoomTicket | null }>(TICKET, { id: ticketId }, signal)
      .then(({ waitingRoomTicket }) => waitingRoomTicket && update(waitingRoomTicket))
      .catch(() => undefined);
  };
  const startPolling = (): void => {
    if (!poller && !signal.aborted) poller = window.setInterval(poll, POLL_MS);
  };

  update(ticket);
  if (ticket.status !== 'WAITING') return;
  // Live position over the subscription; if it fails or ends early, poll instead.
  stopSubscription = subscribe<{ waitingRoom: WaitingRoomTicket }>(UPDATES, { ticketId }, {
    next: ({ waitingRoom }) => update(waitingRoom),
    error: () => startPolling(),
    complete: () => startPolling(),
  });
  // A slow safety net even while subscribed: a silent socket must not leave someone stuck.
  const safety = window.setInterval(poll, POLL_MS * 5);
  signal.addEventListener('abort', () => {
    stopSubscription();
    window.clearInterval(poller);
    window.clearInterval(safety);
  });
}
