// Quantity pickers for general-admission (standing) sections: steppers bounded by what is left and by
// the per-person limit (counting the seats already picked).
import { announce, h } from './dom';
import type { SectionAvailability } from './types';

export interface GaPickerOptions {
  /** The show's general-admission sections, with what is left (live). */
  sections(): SectionAvailability[];
  /** Quantity per section id; the pickers write to it. */
  quantities: Map<string, number>;
  price(sectionId: string): string;
  maxTickets: number;
  /** Tickets picked so far, seats included. */
  ticketCount(): number;
  /** True while seats are held: the quantities cannot change. */
  locked(): boolean;
  onChange(): void;
}

export class GaPickers {
  readonly element = h('div', { class: 'ga-pickers' });

  constructor(private readonly options: GaPickerOptions) {}

  render(): void {
    const sections = this.options.sections();
    if (!sections.length) {
      this.element.replaceChildren();
      return;
    }
    this.element.replaceChildren(
      h('h2', {}, 'Standing tickets'),
      ...sections.map((section) => {
        const id = `ga-${section.sectionId}`;
        const price = this.options.price(section.sectionId);
        const input = h('input', {
          id, type: 'number', inputmode: 'numeric', min: 0, value: this.options.quantities.get(section.sectionId) ?? 0,
          'data-section-id': section.sectionId, 'aria-describedby': `${id}-hint`, disabled: this.options.locked(),
        });
        const set = (value: number): void => {
          const max = this.max(section.sectionId);
          const quantity = Math.max(0, Math.min(max, Math.floor(Number.isFinite(value) ? value : 0)));
          if (quantity !== value) announce(`Up to ${max} for ${section.name}.`);
          input.value = String(quantity);
          this.options.quantities.set(section.sectionId, quantity);
          this.options.onChange();
        };
        input.addEventListener('change', () => set(input.valueAsNumber));
        const minus = h('button', { type: 'button', class: 'button stepper', 'aria-label': `One fewer for ${section.name}`, disabled: this.options.locked() }, '−');
        const plus = h('button', { type: 'button', class: 'button stepper', 'aria-label': `One more for ${section.name}`, disabled: this.options.locked() }, '+');
        minus.addEventListener('click', () => set((this.options.quantities.get(section.sectionId) ?? 0) - 1));
        plus.addEventListener('click', () => set((this.options.quantities.get(section.sectionId) ?? 0) + 1));
        return h('div', { class: 'field ga-picker' },
          h('label', { for: id }, `${section.name} — ${price} each`),
          h('div', { class: 'stepper-row' }, minus, input, plus),
          h('p', { class: 'hint', id: `${id}-hint`, 'data-ga-hint': section.sectionId }, this.hint(section)));
      }));
    this.updateLimits();
  }

  private max(sectionId: string): number {
    const others = this.options.ticketCount() - (this.options.quantities.get(sectionId) ?? 0);
    return Math.max(0, Math.min(this.options.sections().find((s) => s.sectionId === sectionId)?.available ?? 0, this.options.maxTickets - others));
  }

  private hint(section: SectionAvailability): string {
    return section.available ? `${section.available.toLocaleString()} of ${section.capacity.toLocaleString()} left` : 'Sold out';
  }

  updateLimits(): void {
    for (const section of this.options.sections()) {
      const input = this.element.querySelector<HTMLInputElement>(`input[data-section-id="${section.sectionId}"]`);
      if (input) input.max = String(this.max(section.sectionId));
      const hint = this.element.querySelector<HTMLElement>(`[data-ga-hint="${section.sectionId}"]`);
      if (hint) hint.textContent = this.hint(section);
    }
  }
}
