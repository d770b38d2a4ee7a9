// The organizer's sales report: figures, sections, a chart of sales over time (uPlot) and the CSV export.
//
// Live by POLLING Show.salesReport every few seconds while the page is open. The contract has no
// report subscription, and during an on-sale the figures change many times a second: a poll gives
// each organizer one indexed aggregate read per interval, whatever the rate of sales, where pushing
// every change would cost the server work per sale per watching organizer.
import 'uplot/dist/uPlot.min.css';
import './organizer.css';
import uPlot from 'uplot';
import { describeError, gql } from '../api';
import { currentUser, getToken } from '../auth';
import { fill, h, notice } from '../dom';
import { dateTime, money } from '../format';
import { currentPath, navigate, titled, type ScreenContext } from '../router';

const POLL_MS = 5_000;
const BUCKETS: [number, string][] = [[60, 'per minute'], [3600, 'per hour'], [86_400, 'per day']];

interface SalesReport {
  currency: string;
  capacity: number;
  sold: number;
  held: number;
  available: number;
  checkedIn: number;
  // BigInt, a string of digits: a stadium's takings pass GraphQL's Int (Number() is exact to 2^53 cents).
  grossTotalCents: string;
  refundedTotalCents: string;
  bySection: { sectionId: string; name: string; capacity: number; sold: number; checkedIn: number; grossTotalCents: string }[];
  timeline: { start: string; orders: number; tickets: number; grossTotalCents: string }[];
}

interface ReportShow {
  id: string;
  startsAt: string;
  event: { name: string; venue: { name: string; timeZone: string } };
  salesReport: SalesReport | null;
}

const REPORT_Q = `query SalesReport($id: ID!, $bucket: Int) { show(id: $id) { id startsAt event { name venue { name timeZone } }
  salesReport { currency capacity sold held available checkedIn grossTotalCents refundedTotalCents
    bySection { sectionId name capacity sold checkedIn grossTotalCents }
    timeline(bucketSeconds: $bucket) { start orders tickets grossTotalCents } } } }`;

export async function reportScreen({ root, params, signal, onLeave }: ScreenContext): Promise<void> {
  if (!currentUser()) {
    navigate(`/login?next=${encodeURIComponent(currentPath())}`, { replace: true });
    return;
  }
  let bucket = 60;
  root.append(h('p', { class: 'loading', role: 'status' }, 'Loading the report…'));
  const load = async (): Promise<ReportShow | null> =>
    (await gql<{ show: ReportShow | null }>(REPORT_Q, { id: params.id, bucket }, signal)).show;
  let show: ReportShow | null;
  try {
    show = await load();
  } catch (error) {
    root.replaceChildren(notice('error', describeError(error)));
    return;
  }
  if (!show || !show.salesReport) {
    const heading = h('h1', {}, 'No report');
    root.replaceChildren(heading, h('p', {}, 'Only the organizer of this show can read its sales report.'));
    titled(root, heading, 'No report');
    return;
  }

  const heading = h('h1', {}, `Sales: ${show.event.name}`);
  const figures = h('dl', { class: 'report-figures', 'aria-live': 'polite' });
  const chartBox = h('div', { class: 'report-chart', role: 'img', 'aria-label': 'Tickets sold over time' });
  const sections = h('div');
  const updated = h('p', { class: 'muted report-updated' });
  const picker = h('select', { id: 'report-bucket' }, ...BUCKETS.map(([seconds, label]) =>
    h('option', { value: seconds, selected: seconds === bucket }, label)));
  const download = h('button', { type: 'button', class: 'button csv-download' }, 'Download CSV (one row per ticket)');
  download.addEventListener('click', () => void downloadCsv(params.id, download));

  const timeZone = show.event.venue.timeZone;
  let chart: uPlot | null = null;
  const render = (report: SalesReport): void => {
    const gross = Number(report.grossTotalCents);
    const refunded = Number(report.refundedTotalCents);
    const net = gross - refunded;
    const fig = (label: string, value: string): HTMLElement => h('div', {}, h('dt', {}, label), h('dd', {}, value));
    fill(figures,
      fig('Sold', `${report.sold} / ${report.capacity}`), fig('Held now', String(report.held)),
      fig('Available', String(report.available)), fig('Checked in', String(report.checkedIn)),
      fig('Gross', money(gross, report.currency)), fig('Refunded', money(refunded, report.currency)),
      fig('Net', money(net, report.currency)));
    fill(sections, h('table', { class: 'report-sections' },
      h('caption', {}, 'By section'),
      h('thead', {}, h('tr', {}, h('th', {}, 'Section'), h('th', { class: 'num' }, 'Sold'), h('th', { class: 'num' }, 'Capacity'),
        h('th', { class: 'num' }, 'Checked in'), h('th', { class: 'num' }, 'Gross'))),
      h('tbody', {}, ...report.bySection.map((s) => h('tr', {},
        h('td', {}, s.name), h('td', { class: 'num' }, s.sold), h('td', { class: 'num' }, s.capacity),
        h('td', { class: 'num' }, s.checkedIn), h('td', { class: 'num' }, money(Number(s.grossTotalCents), report.currency)))))));
    // uPlot wants seconds on the x axis; a running total reads better than per-bucket bars mid on-sale.
    const xs = report.timeline.map((b) => Date.parse(b.start) / 1000);
    const perBucket = report.timeline.map((b) => b.tickets);
    let running = 0;
    const cumulative = perBucket.map((n) => (running += n));
    const data: uPlot.AlignedData = [xs, perBucket, cumulative];
    if (chart) {
      chart.setData(data);
    } else {
      // The box's content width (clientWidth counts its padding): wider would make it scroll sideways on a phone.
      const box = getComputedStyle(chartBox);
      const inner = chartBox.clientWidth - parseFloat(box.paddingLeft) - parseFloat(box.paddingRight);
      chart = new uPlot({
        width: Math.max(240, Math.min(900, inner || 800)),
        height: 280,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), timeZone),
        series: [{}, { label: 'Tickets in bucket', stroke: '#1d4ed8', width: 2, points: { show: true, size: 6 } },
          { label: 'Tickets sold (total)', stroke: '#15803d', width: 2, points: { show: true, size: 6 } }],
        // uPlot widens a lone point's time axis by 86,400 / ms (years, in seconds): one bucket either side.
        scales: { x: { time: true, range: (u, min, max) => {
          const x = u.data[0];
          return x.length === 1 ? [x[0] - bucket, x[0] + bucket] : [min, max];
        } } },
        axes: [{}, { label: 'Tickets' }],
      }, data, chartBox);
      onLeave(() => chart?.destroy());
    }
    fill(updated, `Updated ${new Date().toLocaleTimeString()} · refreshes every ${POLL_MS / 1000} s`);
  };

  picker.addEventListener('change', () => {
    bucket = Number(picker.value);
    void refresh();
  });
  const refresh = async (): Promise<void> => {
    try {
      const fresh = await load();
      if (fresh?.salesReport) render(fresh.salesReport);
    } catch {
      /* offline for a moment: keep the last figures; the next poll tries again */
    }
  };

  fill(root, heading,
    h('p', { class: 'muted' }, `${dateTime(show.startsAt, timeZone)} · ${show.event.venue.name}`),
    figures,
    h('h2', {}, 'Sales over time'),
    h('p', {}, h('label', { for: 'report-bucket' }, 'Group '), picker),
    chartBox, sections, updated,
    h('p', {}, download, ' ', h('a', { href: `#/door/${encodeURIComponent(show.id)}` }, 'Open the door scanner')));
  titled(root, heading, `Sales · ${show.event.name}`);
  render(show.salesReport);
  const timer = window.setInterval(() => void refresh(), POLL_MS);
  onLeave(() => window.clearInterval(timer));
}

/** The CSV needs the bearer token, which a plain link cannot send: fetch it, then save the blob. */
async function downloadCsv(showId: string, button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  try {
    const response = await fetch(`${new URL('/', location.href).origin}/reports/shows/${encodeURIComponent(showId)}/sales.csv`,
      { headers: { Authorization: `Bearer ${getToken() ?? ''}` } });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const link = h('a', { href: url, download: `sales-${showId}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (error) {
    button.after(notice('error', `The export failed: ${describeError(error)}`));
  } finally {
    button.disabled = false;
  }
}
