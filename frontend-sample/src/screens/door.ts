// The door: door staff (or the show's organizer) scan tickets in. QR codes are read with the camera
// where the browser has BarcodeDetector (Chrome on Android, ...); everywhere else, and always as a
// fallback, the barcode is typed. Each answer is a big green or red panel a doorman reads at a glance.
//
// The count admitted is live by POLLING Show.salesReport.checkedIn every few seconds: the contract has
// no check-in subscription, and a count that is a few seconds old is fine at a door. salesReport is
// the organizer's only; door staff see the count admitted at this device instead.
import './organizer.css';
import { ApiError, describeError, gql, REJECTED_FIELDS } from '../api';
import { currentUser } from '../auth';
import { fill, h, notice, announce } from '../dom';
import { dateTime } from '../format';
import { currentPath, missing, navigate, titled, type ScreenContext } from '../router';

const POLL_MS = 5_000;
const SAME_CODE_QUIET_MS = 3_000; // a camera sees one QR code many times a second: scan it once

interface DoorShow {
  id: string;
  startsAt: string;
  event: { name: string; venue: { name: string; timeZone: string } };
  salesReport: { checkedIn: number; sold: number } | null;
}

interface CheckInAnswer {
  __typename: 'CheckIn' | 'Rejected';
  place?: string;
  checkedInAt?: string;
  code?: string;
  message?: string;
}

const SHOW_Q = `query DoorShow($id: ID!) { show(id: $id) { id startsAt event { name venue { name timeZone } }
  salesReport { checkedIn sold } } }`;
const COUNT_Q = 'query DoorCount($id: ID!) { show(id: $id) { id salesReport { checkedIn sold } } }';
const CHECK_IN = `mutation CheckIn($showId: ID!, $barcode: String!) { checkInTicket(showId: $showId, barcode: $barcode) {
  __typename ... on CheckIn { place checkedInAt ticket { id status } } ${REJECTED_FIELDS} } }`;

const REFUSALS: Record<string, string> = {
  ALREADY_CHECKED_IN: 'Already checked in',
  TICKET_VOID: 'Void ticket',
  WRONG_SHOW: 'Wrong show',
  INVALID_INPUT: 'Not a valid ticket',
  FORBIDDEN: 'You are not door staff for this show',
  UNAUTHENTICATED: 'Please log in again',
  NOT_FOUND: 'No such show',
};

interface BarcodeDetectorLike {
  detect(source: CanvasImageSource): Promise<{ rawValue: string }[]>;
}

type DetectorClass = new (options: { formats: string[] }) => BarcodeDetectorLike;

export async function doorScreen({ root, params, signal, onLeave }: ScreenContext): Promise<void> {
  if (!currentUser()) {
    navigate(`/login?next=${encodeURIComponent(currentPath())}`, { replace: true });
    return;
  }
  const showId = params.id;
  root.append(h('p', { class: 'loading', role: 'status' }, 'Loading the show…'));
  let show: DoorShow | null;
  try {
    show = (await gql<{ show: DoorShow | null }>(SHOW_Q, { id: showId }, signal)).show;
  } catch (error) {
    root.replaceChildren(notice('error', describeError(error)));
    return;
  }
  if (!show) {
    missing(root, 'Show not found', 'Show not found');
    return;
  }

  const heading = h('h1', {}, `Door: ${show.event.name}`);
  const answer = h('div', { class: 'door-answer door-idle', 'aria-live': 'assertive', role: 'status' },
    h('p', { class: 'door-verdict' }, 'Ready to scan'));
  const counter = h('p', { class: 'door-count', 'aria-live': 'polite' });
  const input = h('input', {
    id: 'door-barcode', name: 'barcode', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false',
    required: true, maxlength: 64, inputmode: 'text',
  });
  const form = h('form', { class: 'door-form' },
    h('label', { for: 'door-barcode' }, 'Barcode'), input,
    h('button', { type: 'submit', class: 'button primary door-submit' }, 'Check in'));
  const cameraArea = h('div', { class: 'door-camera' });
  let admittedHere = 0;
  let reportable = show.salesReport !== null;
  let total = show.salesReport;

  const renderCount = (): void => {
    fill(counter, reportable && total
      ? `${total.checkedIn} of ${total.sold} admitted so far (updated every ${POLL_MS / 1000} s)`
      : `${admittedHere} admitted at this door`);
  };

  const show_ = show;
  const verdict = (ok: boolean, title: string, detail: string): void => {
    answer.className = `door-answer ${ok ? 'door-ok' : 'door-refused'}`;
    fill(answer, h('p', { class: 'door-verdict' }, title), h('p', { class: 'door-detail' }, detail));
    announce(`${title}. ${detail}`);
  };

  let busy = false;
  const scan = async (barcode: string): Promise<void> => {
    const code = barcode.trim();
    if (!code || busy) return;
    busy = true;
    try {
      const { checkInTicket: result } = await gql<{ checkInTicket: CheckInAnswer }>(CHECK_IN,
        { showId: show_.id, barcode: code }, signal);
      if (result.__typename === 'CheckIn') {
        admittedHere += 1;
        if (total) total = { ...total, checkedIn: total.checkedIn + 1 };
        verdict(true, 'Admitted', result.place ?? '');
      } else {
        verdict(false, REFUSALS[result.code ?? ''] ?? 'Do not admit', result.message ?? '');
      }
      renderCount();
    } catch (error) {
      if (signal.aborted) return;
      verdict(false, 'No answer', error instanceof ApiError ? error.message : describeError(error));
    } finally {
      busy = false;
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const code = input.value;
    input.value = '';
    void scan(code).then(() => input.focus());
  });

  const Detector = (window as unknown as { BarcodeDetector?: DetectorClass }).BarcodeDetector;
  if (Detector) {
    const start = h('button', { type: 'button', class: 'button door-start-camera' }, 'Scan with the camera');
    start.addEventListener('click', () => void startCamera(Detector, cameraArea, signal, onLeave, scan));
    cameraArea.append(start);
  } else {
    cameraArea.append(h('p', { class: 'muted' }, 'This browser cannot read QR codes with the camera: type the barcode.'));
  }

  fill(root, heading,
    h('p', { class: 'muted' }, `${dateTime(show.startsAt, show.event.venue.timeZone)} · ${show.event.venue.name}`),
    answer, counter, form, cameraArea);
  titled(root, heading, `Door · ${show.event.name}`);
  renderCount();
  input.focus();

  if (reportable) {
    const timer = window.setInterval(() => {
      gql<{ show: { salesReport: { checkedIn: number; sold: number } | null } | null }>(COUNT_Q, { id: show_.id }, signal)
        .then(({ show: fresh }) => {
          reportable = !!fresh?.salesReport;
          total = fresh?.salesReport ?? null;
          renderCount();
        })
        .catch(() => undefined); // offline for a moment: keep the last count, the next poll tries again
    }, POLL_MS);
    onLeave(() => window.clearInterval(timer));
  }
}

async function startCamera(Detector: DetectorClass, area: HTMLElement, signal: AbortSignal,
  onLeave: (fn: () => void) => void, scan: (code: string) => Promise<void>): Promise<void> {
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  } catch {
    fill(area, notice('error', 'The camera is not available: type the barcode instead.'));
    return;
  }
  const video = h('video', { class: 'door-video', muted: true, playsinline: true, 'aria-label': 'Camera' });
  video.srcObject = stream;
  fill(area, video);
  await video.play().catch(() => undefined);
  const detector = new Detector({ formats: ['qr_code'] });
  let last = '';
  let lastAt = 0;
  const stop = (): void => stream.getTracks().forEach((track) => track.stop());
  onLeave(stop);
  const tick = async (): Promise<void> => {
    if (signal.aborted) return;
    try {
      const [found] = await detector.detect(video);
      const now = Date.now();
      if (found && (found.rawValue !== last || now - lastAt > SAME_CODE_QUIET_MS)) {
        last = found.rawValue;
        lastAt = now;
        await scan(found.rawValue);
      }
    } catch {
      /* a frame the detector could not read: try the next one */
    }
    window.setTimeout(() => void tick(), 200);
  };
  void tick();
}
