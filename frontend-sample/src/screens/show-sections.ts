// The show's sections: what is left in each (updated live) and what it costs, shown in the availability
// table and as the section buttons (price, places left) that zoom the map to a section — the map's
// text alternative too.
import { h } from '../dom';
import { money } from '../format';
import type { SectionAvailability } from '../types';
import type { ShowDetail } from './show-queries';

export class ShowSections {
  /** The section buttons; `onPick` gets the section a fan pressed. */
  readonly picker = h('div', { class: 'section-picker' });
  private readonly byId = new Map<string, SectionAvailability>();
  private readonly priceById = new Map<string, number>();
  private readonly availabilityBody = h('tbody');

  constructor(private readonly show: ShowDetail, private readonly onPick: (sectionId: string) => void) {
    for (const section of show.availability.sections) this.byId.set(section.sectionId, section);
    for (const tier of show.priceTiers) for (const id of tier.sectionIds) this.priceById.set(id, tier.priceCents);
  }

  get all(): SectionAvailability[] {
    return [...this.byId.values()];
  }

  get reserved(): SectionAvailability[] {
    return this.all.filter((s) => !s.generalAdmission);
  }

  get generalAdmission(): SectionAvailability[] {
    return this.all.filter((s) => s.generalAdmission);
  }

  get(sectionId: string): SectionAvailability | undefined {
    return this.byId.get(sectionId);
  }

  priceCents(sectionId: string): number {
    return this.priceById.get(sectionId) ?? 0;
  }

  price(sectionId: string): string {
    return money(this.priceCents(sectionId), this.show.currency);
  }

  /** Takes what is left from a live change, and shows it. */
  update(sections: SectionAvailability[]): void {
    for (const section of sections) this.byId.set(section.sectionId, section);
    this.renderTable();
    this.renderPicker();
  }

  availabilityCard(): HTMLElement {
    this.renderTable();
    return h('section', { class: 'card', 'aria-labelledby': 'avail-title' },
      h('h2', { id: 'avail-title' }, 'Availability'),
      h('table', { class: 'availability' },
        h('caption', { class: 'visually-hidden' }, 'Places left per section'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Section'), h('th', { scope: 'col' }, 'Price'), h('th', { scope: 'col' }, 'Left'))),
        this.availabilityBody));
  }

  /** One button per reserved section; the focus stays on the same section's button across re-renders. */
  renderPicker(): void {
    const focused = document.activeElement instanceof HTMLElement && this.picker.contains(document.activeElement)
      ? document.activeElement.dataset.sectionId : null;
    this.picker.replaceChildren(
      h('h3', { id: 'section-picker-help' }, 'Sections'),
      h('ul', { class: 'section-buttons', 'aria-labelledby': 'section-picker-help' }, ...this.reserved.map((section) => {
        const button = h('button', { type: 'button', class: 'button section-button', 'data-section-id': section.sectionId },
          h('span', { class: 'section-name' }, section.name),
          h('span', {}, this.price(section.sectionId)),
          h('span', {}, section.available ? `${section.available.toLocaleString()} left` : 'Sold out'));
        button.addEventListener('click', () => this.onPick(section.sectionId));
        return h('li', {}, button);
      })));
    if (focused) this.picker.querySelector<HTMLElement>(`[data-section-id="${focused}"]`)?.focus();
  }

  private renderTable(): void {
    this.availabilityBody.replaceChildren(...this.all.map((section) =>
      h('tr', { 'data-section-id': section.sectionId },
        h('th', { scope: 'row' }, section.name, section.generalAdmission ? h('abbr', { class: 'muted ga-tag', title: 'general admission (standing)' }, ' GA') : null),
        h('td', {}, this.price(section.sectionId)),
        h('td', { class: section.available ? '' : 'sold-out' },
          section.available ? `${section.available.toLocaleString()} / ${section.capacity.toLocaleString()}` : 'Sold out'))));
  }
}
