// "Add to calendar": an RFC 5545 iCalendar file written here (about 40 lines, no library: the
// well-kept ones either need a separate time-zone database package or add far more than we use).
//
// The start is in the VENUE's zone: DTSTART;TZID=<IANA id>:<local time>. RFC 5545 wants a VTIMEZONE
// for every TZID, so one is included, reduced to the UTC offset in force at the show (read from
// Intl): calendars that know the IANA id use their own rules, the others still get the right
// instant. The contract has no show length, so there is no DTEND (the event is its start).

/** Local wall-clock parts of an instant in a zone, and that zone's UTC offset then ("+0100"). */
function zoned(date: Date, timeZone: string): { local: string; offset: string } {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    timeZoneName: 'longOffset',
  }).formatToParts(date).map((p) => [p.type, p.value]));
  const local = `${parts.year}${parts.month}${parts.day}T${parts.hour}${parts.minute}${parts.second}`;
  const match = /GMT([+-])(\d{2}):?(\d{2})?/.exec(parts.timeZoneName ?? '');
  const offset = match ? `${match[1]}${match[2]}${match[3] ?? '00'}` : '+0000';
  return { local, offset };
}

const utc = (date: Date): string => date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

/** TEXT values: backslash, semicolon, comma and newlines escaped (RFC 5545 §3.3.11). */
const text = (value: string): string => value.replace(/\\/g, '\\\\').replace(/;/g, '\\;').replace(/,/g, '\\,').replace(/\r?\n/g, '\\n');

/** Lines longer than 75 octets are folded: CRLF and one space (§3.1). */
function fold(line: string): string {
  const bytes = new TextEncoder().encode(line);
  if (bytes.length <= 75) return line;
  const out: string[] = [];
  let current = '';
  let size = 0;
  for (const ch of line) {
    const n = new TextEncoder().encode(ch).length;
    if (size + n > (out.length ? 74 : 75)) {
      out.push(current);
      current = '';
      size = 0;
    }
    current += ch;
    size += n;
  }
  out.push(current);
  return out.join('\r\n ');
}

export interface CalendarEvent {
  uid: string;
  title: string;
  startsAt: string;
  timeZone: string;
  location: string;
  description: string;
}

export function icsFor(event: CalendarEvent, now = new Date()): string {
  const start = new Date(event.startsAt);
  const { local, offset } = zoned(start, event.timeZone);
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//boxoffice//fan app//EN',
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    'BEGIN:VTIMEZONE',
    `TZID:${event.timeZone}`,
    'BEGIN:STANDARD',
    'DTSTART:19700101T000000',
    `TZOFFSETFROM:${offset}`,
    `TZOFFSETTO:${offset}`,
    'END:STANDARD',
    'END:VTIMEZONE',
    'BEGIN:VEVENT',
    `UID:${event.uid}`,
    `DTSTAMP:${utc(now)}`,
    `DTSTART;TZID=${event.timeZone}:${local}`,
    `SUMMARY:${text(event.title)}`,
    `LOCATION:${text(event.location)}`,
    `DESCRIPTION:${text(event.description)}`,
    'END:VEVENT',
    'END:VCALENDAR',
  ];
  return lines.map(fold).join('\r\n') + '\r\n';
}

/** A link that downloads the .ics (a blob URL: nothing leaves the device). */
export function calendarLink(event: CalendarEvent, filename: string): HTMLAnchorElement {
  const a = document.createElement('a');
  a.className = 'button calendar-link';
  a.download = filename;
  a.textContent = 'Add to calendar (.ics)';
  a.href = URL.createObjectURL(new Blob([icsFor(event)], { type: 'text/calendar;charset=utf-8' }));
  return a;
}
