// "Best available": the fan says how many, which price and whether they need wheelchair places;
// Show.bestAvailable answers with the best seats still free together (read only: nothing is held).
// The seats found become the selection; the fan then holds them like seats picked by hand.
import { describeError, gql } from './api';
import { busy, h, notice } from './dom';
import { money, plural } from './format';
import type { PriceTier, Seat } from './types';

const BEST_AVAILABLE = `
  query BestAvailable($id: ID!, $quantity: Int!, $priceTierId: ID, $accessible: Boolean) {
    show(id: $id) {
      id
      bestAvailable(quantity: $quantity, priceTierId: $priceTierId, accessible: $accessible) {
        id sectionId section row number status version priceCents accessible obstructedView x y
      }
    }
  }`;

export interface BestAvailableOptions {
  showId: string;
  tiers: PriceTier[];
  currency: string;
  maxTickets: number;
  signal: AbortSignal;
  /** Seats found; the owner makes them the selection. */
  onFound(seats: Seat[]): void;
}

export function bestAvailablePanel(options: BestAvailableOptions): HTMLElement {
  const quantity = h('select', { id: 'best-quantity', name: 'quantity' },
    ...Array.from({ length: options.maxTickets }, (_, i) => h('option', { value: i + 1, selected: i === 1 }, String(i + 1))));
  const tier = h('select', { id: 'best-tier', name: 'tier' },
    h('option', { value: '' }, 'Any price'),
    ...options.tiers.map((t) => h('option', { value: t.id }, `${t.name} · ${money(t.priceCents, options.currency)}`)));
  const accessible = h('input', { type: 'checkbox', id: 'best-accessible', name: 'accessible' });
  const find = h('button', { type: 'submit', class: 'button best-button' }, 'Find best seats');
  const result = h('div', { class: 'best-result' });
  const form = h('form', { class: 'best-available', 'aria-labelledby': 'best-title' },
    h('h3', { id: 'best-title' }, 'Best available'),
    h('p', { class: 'muted' }, 'Or let us pick: the best seats left together, nearest the stage.'),
    h('div', { class: 'best-fields' },
      h('div', { class: 'field' }, h('label', { for: quantity.id }, 'Seats'), quantity),
      h('div', { class: 'field' }, h('label', { for: tier.id }, 'Price'), tier)),
    h('div', { class: 'checkbox-field' }, accessible, h('label', { for: accessible.id }, 'Wheelchair places only')),
    find,
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const n = Number(quantity.value);
    busy(find, true, 'Finding…');
    result.replaceChildren();
    try {
      const { show } = await gql<{ show: { bestAvailable: Seat[] } | null }>(BEST_AVAILABLE, {
        id: options.showId, quantity: n, priceTierId: tier.value || null, accessible: accessible.checked || null,
      }, options.signal);
      const seats = show?.bestAvailable ?? [];
      if (!seats.length) {
        result.replaceChildren(notice('info', `No ${plural(n, 'seat')} ${n > 1 ? 'together ' : ''}left${tier.value ? ' at that price' : ''}${accessible.checked ? ' with wheelchair places' : ''}. Try fewer seats or another price.`));
        return;
      }
      options.onFound(seats);
    } catch (error) {
      if (!options.signal.aborted) result.replaceChildren(notice('error', describeError(error)));
    } finally {
      busy(find, false, 'Find best seats');
    }
  });
  return form;
}
