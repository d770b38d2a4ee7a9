// Checkout: createOrder (once per hold), then confirmPayment with a test card; handles a decline
// (try another card), 3-D Secure (complete it in another tab, then we follow the order) and success.
import {
  describeError, describeProblem, gql, gqlIdempotent, newIdempotencyKey, REJECTED_FIELDS, problemOf, syncServerClock,
} from '../api';
import { currentUser } from '../auth';
import { announce, busy, fill, h, notice } from '../dom';
import { dateTime, money } from '../format';
import { currentPath, navigate, titled, type ScreenContext } from '../router';
import { ORDER_FIELDS, watchOrder } from '../orders';
import { activeHold, orderForHold } from '../session';
import type { Hold, Order, Rejected, SectionAvailability } from '../types';
import { countdown, HOLD_FIELDS, holdLines } from '../widgets';

const HOLD = `
  query CheckoutHold($id: ID!) {
    hold(id: $id) {
      ${HOLD_FIELDS}
      show { id startsAt event { id name venue { name city timeZone } }
             availability { sections { sectionId name generalAdmission capacity available } } }
    }
  }`;

const CREATE_ORDER = `
  mutation CreateOrder($input: CreateOrderInput!) {
    createOrder(input: $input) { __typename ... on Order { ${ORDER_FIELDS} } ${REJECTED_FIELDS} }
  }`;

const CONFIRM_PAYMENT = `
  mutation ConfirmPayment($input: ConfirmPaymentInput!) {
    confirmPayment(input: $input) { __typename ... on Order { ${ORDER_FIELDS} } ${REJECTED_FIELDS} }
  }`;

type CheckoutHold = Hold & {
  show: { id: string; startsAt: string; event: { id: string; name: string; venue: { name: string; city: string; timeZone: string } }; availability: { sections: SectionAvailability[] } };
};
type OrderResult = Order | Rejected;

/** The payment simulator (and Stripe test mode) honour these payment-method ids. */
const TEST_CARDS = [
  { id: 'pm_card_visa', label: 'Visa ending 4242', hint: 'succeeds' },
  { id: 'pm_card_visa_chargeDeclined', label: 'Visa ending 0002', hint: 'is declined' },
  { id: 'pm_card_authenticationRequired', label: 'Visa ending 3184', hint: 'asks for 3-D Secure' },
];

export const DECLINED = 'Your card was declined — try another card.';

export async function checkoutScreen(ctx: ScreenContext): Promise<void> {
  const { root, params, signal } = ctx;
  if (!currentUser()) {
    navigate(`/login?next=${encodeURIComponent(currentPath())}`, { replace: true });
    return;
  }
  root.append(h('p', { class: 'loading', role: 'status' }, 'Loading your seats…'));
  let hold: CheckoutHold | null;
  try {
    [{ hold }] = await Promise.all([gql<{ hold: CheckoutHold | null }>(HOLD, { id: params.holdId }, signal), syncServerClock()]);
  } catch (error) {
    root.replaceChildren(notice('error', describeError(error)));
    return;
  }
  const heading = h('h1', {}, 'Checkout');
  const existing = orderForHold.get(params.holdId);
  if (!hold || (hold.status !== 'ACTIVE' && !existing?.orderId)) {
    root.replaceChildren(heading, notice('error', hold
      ? 'These seats are no longer held for you (the hold expired, was released or already paid). Please pick seats again.'
      : 'We could not find this hold. It may belong to another account.'),
    hold ? h('a', { class: 'button', href: `#/shows/${encodeURIComponent(hold.show.id)}` }, 'Back to the seat map') : h('a', { href: '#/' }, 'Back to events'));
    titled(root, heading, 'Checkout');
    return;
  }
  if (hold.status === 'CONVERTED' && existing?.orderId) {
    // Paid already (or being paid): the order page knows more.
    navigate(`/orders/${encodeURIComponent(existing.orderId)}`, { replace: true });
    return;
  }

  const status = h('div', { class: 'payment-status' });
  const pay = h('button', { type: 'submit', class: 'button primary pay-button' }, `Pay ${money(hold.totalCents, hold.currency)}`);
  const cards = h('fieldset', { class: 'cards' },
    h('legend', {}, 'Payment method (test mode)'),
    ...TEST_CARDS.map((card, i) => h('div', { class: 'radio' },
      h('input', { type: 'radio', name: 'card', id: `card-${card.id}`, value: card.id, checked: i === 0 }),
      h('label', { for: `card-${card.id}` }, card.label, h('span', { class: 'muted' }, ` — ${card.id} (${card.hint})`)))));
  const form = h('form', { class: 'card form payment-form' }, cards, status, pay);
  const timerHost = h('div');
  root.replaceChildren(
    h('p', { class: 'breadcrumbs' }, h('a', { href: `#/shows/${encodeURIComponent(hold.show.id)}` }, `${hold.show.event.name} — seat map`), ' › Checkout'),
    heading,
    h('div', { class: 'checkout-layout' },
      h('section', { class: 'card', 'aria-labelledby': 'order-summary' },
        h('h2', { id: 'order-summary' }, hold.show.event.name),
        h('p', {}, `${dateTime(hold.show.startsAt, hold.show.event.venue.timeZone)} · ${hold.show.event.venue.name}, ${hold.show.event.venue.city}`),
        timerHost,
        holdLines(hold, hold.show.availability.sections),
        h('p', { class: 'total' }, 'Total ', h('strong', {}, money(hold.totalCents, hold.currency)))),
      form));
  titled(root, heading, 'Checkout');

  const showId = hold.show.id;
  timerHost.append(countdown(hold.expiresAt, signal, () => {
    pay.disabled = true;
    status.replaceChildren(notice('error', 'Time is up: your seats went back on sale. Please pick seats again.',
      h('a', { class: 'button', href: `#/shows/${encodeURIComponent(showId)}` }, 'Back to the seat map')));
  }));

  const confirmed = (order: Order): void => {
    activeHold.set(showId, null);
    orderForHold.set(params.holdId, null);
    navigate(`/orders/${encodeURIComponent(order.id)}`);
  };

  /** Shows what an order's state means and what to do next; returns true when nothing more is needed here. */
  const present = (order: Order): boolean => {
    const payment = order.payment;
    if (order.status === 'CONFIRMED') {
      confirmed(order);
      return true;
    }
    if (order.status === 'CANCELLED' || order.status === 'REFUNDED') {
      status.replaceChildren(notice('error', 'This order was cancelled (the time to pay ran out). Any payment taken is refunded.',
        h('a', { class: 'button', href: `#/shows/${encodeURIComponent(showId)}` }, 'Pick seats again')));
      pay.disabled = true;
      return true;
    }
    if (payment?.status === 'FAILED' || payment?.status === 'CANCELED' || (payment?.status === 'REQUIRES_PAYMENT_METHOD' && payment.failureReason)) {
      declined(payment.failureReason);
      return true;
    }
    if (payment?.status === 'REQUIRES_ACTION' && payment.nextActionUrl) {
      const link = h('a', { class: 'button primary', href: payment.nextActionUrl, target: '_blank', rel: 'noopener' }, 'Verify with your bank (opens a new tab)');
      status.replaceChildren(notice('info', 'Your bank wants to confirm it is you (3-D Secure). Complete the check in the new tab; this page updates by itself.', link));
      // Try to open it for them; if the browser blocks the pop-up, the link above does it.
      window.open(payment.nextActionUrl, '_blank', 'noopener');
      return false;
    }
    status.replaceChildren(notice('info', 'Confirming your payment…'));
    return false;
  };

  const declined = (reason: string | null): void => {
    status.replaceChildren(notice('error', DECLINED, reason ? h('p', { class: 'muted' }, `Reason given by the bank: ${reason}`) : null));
    busy(pay, false);
    cards.querySelector<HTMLInputElement>('input:checked')?.focus();
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const method = cards.querySelector<HTMLInputElement>('input[name="card"]:checked')?.value ?? TEST_CARDS[0].id;
    busy(pay, true);
    status.replaceChildren(notice('info', 'Processing your payment…'));
    try {
      // 1. One order per hold. The key is saved first, so a retry (even after a reload) gets the same order back.
      let saved = orderForHold.get(params.holdId);
      if (!saved) orderForHold.set(params.holdId, (saved = { key: newIdempotencyKey(), orderId: null }));
      if (!saved.orderId) {
        const { createOrder } = await gqlIdempotent<{ createOrder: OrderResult }>(CREATE_ORDER, { input: { holdId: params.holdId, idempotencyKey: saved.key } });
        const problem = problemOf(createOrder);
        if (problem) {
          status.replaceChildren(notice('error', describeProblem(problem),
            problem.code === 'HOLD_NOT_ACTIVE' ? h('a', { class: 'button', href: `#/shows/${encodeURIComponent(showId)}` }, 'Pick seats again') : null));
          busy(pay, false);
          return;
        }
        saved = { ...saved, orderId: (createOrder as Order).id };
        orderForHold.set(params.holdId, saved);
      }
      const orderId = saved.orderId!;

      // 2. Pay. A new key per attempt: trying another card after a decline is a new request.
      const { confirmPayment } = await gqlIdempotent<{ confirmPayment: OrderResult }>(CONFIRM_PAYMENT, {
        input: { orderId, paymentMethod: method, idempotencyKey: newIdempotencyKey() },
      });
      const problem = problemOf(confirmPayment);
      if (problem) {
        if (problem.code === 'PAYMENT_DECLINED') declined(null);
        else {
          status.replaceChildren(notice('error', describeProblem(problem)));
          busy(pay, false);
        }
        return;
      }
      if (present(confirmPayment as Order)) return;
      // 3. Not final yet (3-D Secure, or the provider is still processing): follow the order.
      announce('Waiting for your payment to be confirmed.');
      watchOrder(orderId, signal, (order) => {
        if (present(order)) busy(pay, false);
      });
    } catch (error) {
      status.replaceChildren(notice('error', describeError(error)));
      busy(pay, false);
    }
  });
}

/**
 * Where 3-D Secure sends the buyer back (the backend's return_url is `<public url>/#/payment-return`;
 * the bank adds `?redirect_status=…` before the hash). The checkout tab follows the order by itself,
 * so this tab only has to say what happened.
 */
export function paymentReturnScreen({ root }: ScreenContext): void {
  const outcome = new URLSearchParams(location.search).get('redirect_status');
  const ok = outcome === 'succeeded';
  const heading = h('h1', {}, ok ? 'Verification complete' : outcome === 'failed' ? 'Verification failed' : 'Back from your bank');
  fill(root,
    heading,
    ok
      ? notice('success', 'Your bank confirmed the payment. The checkout tab shows your tickets in a moment; you can close this tab.')
      : outcome === 'failed'
        ? notice('error', `${DECLINED} Go back to the checkout tab and choose another card.`)
        : notice('info', 'Go back to the checkout tab: it shows the result of your payment.'),
    h('p', {}, h('a', { href: '#/account' }, 'See your orders')));
  titled(root, heading, heading.textContent ?? 'Payment');
}
