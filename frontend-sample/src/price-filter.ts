// The key to the seat map (tiers with their prices, seat marks, section heat), whose tiers are the
// price filter: one checkbox per tier; unticked tiers are faded on the map and cannot be picked.
import { announce, h } from './dom';
import { money, plural } from './format';
import { TIER_COLOURS, TIER_COUNT } from './seatmap';
import type { PriceTier } from './types';

export class PriceFilter {
  readonly element: HTMLElement;
  /** Price tiers the fan wants to see; all at first. */
  private readonly shown: Set<string>;
  private readonly tierOfSection = new Map<string, string>();

  /** `onChange` runs after every tick or untick, before the new count is announced. */
  constructor(tiers: PriceTier[], currency: string, onChange: () => void) {
    for (const tier of tiers) for (const id of tier.sectionIds) this.tierOfSection.set(id, tier.id);
    this.shown = new Set(tiers.map((tier) => tier.id));
    this.element = mapKey(tiers, currency, this.shown, () => {
      onChange();
      announce(`Showing ${plural(this.shown.size, 'price')} of ${tiers.length}.`);
    });
  }

  /** False for the sections of a tier the fan filtered out. */
  shows(sectionId: string): boolean {
    return this.shown.has(this.tierOfSection.get(sectionId) ?? '');
  }
}

function mapKey(tiers: PriceTier[], currency: string, shown: Set<string>, onChange: () => void): HTMLElement {
  const swatch = (colour: string, mark = ''): HTMLElement =>
    h('span', { class: 'legend-swatch', style: `background:${colour}`, 'aria-hidden': 'true' }, mark);
  const filter = h('fieldset', { class: 'price-filter' },
    h('legend', {}, 'Prices shown'),
    ...tiers.map((tier, i) => {
      const id = `tier-filter-${tier.id}`;
      const box = h('input', { type: 'checkbox', id, checked: shown.has(tier.id), 'data-tier-id': tier.id });
      box.addEventListener('change', () => {
        if (box.checked) shown.add(tier.id);
        else shown.delete(tier.id);
        onChange();
      });
      return h('div', { class: 'tier-option' }, box,
        h('label', { for: id }, swatch(TIER_COLOURS[i % TIER_COUNT]), `${tier.name} · ${money(tier.priceCents, currency)}`));
    }));
  return h('div', { class: 'legend' },
    filter,
    h('h3', { class: 'legend-title' }, 'Key'),
    h('ul', { class: 'legend-list' },
      h('li', {}, swatch('#111827', '✓'), 'Selected / held for you'),
      h('li', {}, swatch('#d1d5db', '╱'), 'Held by someone else'),
      h('li', {}, swatch('#374151', '✕'), 'Sold'),
      h('li', {}, swatch('#e5e7eb', '–'), 'Not for sale'),
      h('li', {}, swatch(TIER_COLOURS[0], '♿'), 'Wheelchair accessible'),
      h('li', {}, swatch(TIER_COLOURS[0], '◤'), 'Obstructed view'),
      h('li', {}, swatch('#15803d'), swatch('#b45309'), swatch('#b91c1c'), swatch('#6b7280'),
        'Sections zoomed out: plenty left, selling fast, almost gone, sold out')));
}
