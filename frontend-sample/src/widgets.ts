// Pieces several screens share: the hold countdown, hold and ticket summaries.
import { describeError, fetchTicketPdf, serverNow } from './api';
import { announce, busy, h, notice } from './dom';
import { clock, money } from './format';
import { seatName } from './seatmap';
import type { Hold, SectionAvailability, Ticket } from './types';

export const HOLD_FIELDS = `
  id status expiresAt totalCents currency
  seats { id sectionId section row number status version priceCents accessible obstructedView x y }
  generalAdmission { sectionId quantity priceCents }`;

/**
 * "Held for 9:41": counts down to expiresAt on the SERVER's clock (see syncServerClock),
 * so a device whose clock is off still shows the real time left. Calls onExpire once.
 */
export function countdown(expiresAt: string, signal: AbortSignal, onExpire: () => void): HTMLElement {
  const deadline = Date.parse(expiresAt);
  const time = h('strong', { class: 'countdown-time' });
  const el = h('p', { class: 'countdown' }, 'Your seats are held for ', time);
  let warned = false;
  const tick = (): void => {
    const left = (deadline - serverNow()) / 1000;
    time.textContent = clock(left);
    // A timer announced every second would drown a screen reader: say it once, near the end.
    if (left <= 60 && !warned) {
      warned = true;
      el.classList.add('urgent');
      announce('Less than a minute left on your hold.');
    }
    if (left <= 0) {
      window.clearInterval(timer);
      onExpire();
    }
  };
  const timer = window.setInterval(tick, 250);
  signal.addEventListener('abort', () => window.clearInterval(timer));
  tick();
  return el;
}

export function holdLines(hold: Pick<Hold, 'seats' | 'generalAdmission' | 'currency'>, sections: SectionAvailability[] = []): HTMLElement {
  const sectionName = (id: string) => sections.find((s) => s.sectionId === id)?.name ?? 'General admission';
  return h('ul', { class: 'line-items' },
    ...hold.seats.map((seat) => h('li', {}, h('span', {}, seatName(seat)), h('span', {}, money(seat.priceCents, hold.currency)))),
    ...hold.generalAdmission.map((line) =>
      h('li', {}, h('span', {}, `${line.quantity} × ${sectionName(line.sectionId)} (general admission)`), h('span', {}, money(line.priceCents * line.quantity, hold.currency)))));
}

/** Tickets with a download button each: the PDF needs the owner's token, so it is fetched, then saved from a blob URL. */
export function ticketList(tickets: Ticket[], sections: SectionAvailability[] = []): HTMLElement {
  const sectionName = (id: string) => sections.find((s) => s.sectionId === id)?.name ?? 'General admission';
  return h('ul', { class: 'tickets' }, ...tickets.map((ticket, i) => {
    const what = ticket.seat ? seatName(ticket.seat) : `${sectionName(ticket.sectionId)} (general admission)`;
    if (ticket.status === 'VOID') {
      // Its barcode is revoked and its PDF refused (404): say so instead of offering either.
      return h('li', { class: 'ticket card ticket-void' }, h('h3', {}, what),
        h('p', { class: 'muted' }, 'Void: refunded, cancelled, transferred or resold. It no longer admits anyone.'));
    }
    return h('li', { class: 'ticket card' }, h('h3', {}, what), ...ticketPass(ticket, what, `ticket-${i + 1}-${ticket.id}.pdf`));
  }));
}

/**
 * What gets a fan in at the door, for a ticket that is not void: its QR code, its barcode and a button
 * that opens its PDF (fetched with the owner's token, then shown from a blob URL).
 */
export function ticketPass(ticket: Pick<Ticket, 'id' | 'barcode' | 'qrSvg' | 'pdfUrl'>, what: string,
  filename = `ticket-${ticket.id}.pdf`): HTMLElement[] {
  const button = h('button', { type: 'button', class: 'button ticket-link', 'data-ticket-id': ticket.id },
    'Open ticket (PDF)', h('span', { class: 'visually-hidden' }, ` for ${what}`));
  const status = h('div');
  button.addEventListener('click', async () => {
    // Open the tab now, while the click still counts as a user gesture; fill it once the PDF is here.
    const tab = window.open('', '_blank');
    busy(button, true);
    status.replaceChildren();
    try {
      const url = URL.createObjectURL(await fetchTicketPdf(ticket.pdfUrl));
      if (tab) tab.location.href = url;
      else saveAs(url, filename); // pop-ups blocked: download instead
      window.setTimeout(() => URL.revokeObjectURL(url), 5 * 60_000);
      announce('Ticket opened.');
    } catch (error) {
      tab?.close();
      status.replaceChildren(notice('error', describeError(error)));
    } finally {
      busy(button, false);
    }
  });
  return [
    qrImage(ticket.qrSvg, `QR code to scan at the door, ${what}`),
    h('p', { class: 'barcode' }, h('span', { class: 'muted' }, 'Barcode '), h('code', {}, ticket.barcode)),
    button,
    status,
  ];
}

/**
 * The QR code from Ticket.qrSvg as an <img> with a data: URL: the SVG text is never parsed into this
 * page (an SVG inside <img> cannot run script or load anything), so it needs no sanitising.
 */
export function qrImage(svg: string, alt: string): HTMLImageElement {
  return h('img', { class: 'ticket-qr', alt, src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`, width: 200, height: 200 });
}

function saveAs(url: string, filename: string): void {
  const a = h('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
}
