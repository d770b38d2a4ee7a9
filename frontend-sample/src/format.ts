// Money, dates and durations, formatted once for the whole app.

const LOCALE = navigator.language || 'en';

/**
 * Stripe's zero-decimal currencies: an amount in them counts whole units (5000 JPY is ¥5,000). The same
 * set as ZERO_DECIMAL in boxoffice/booking/catalog/currencies.py, the server's table of the currencies a
 * show can be priced in. Every other priced currency is counted in hundredths, including a few that
 * Intl writes without decimals (ISK, HUF, COP, IDR, PKR...): Stripe, and so the API, still counts those
 * in hundredths, so Intl's fraction digits cannot tell the unit of a `*Cents` field.
 */
const ZERO_DECIMAL = new Set(['BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND',
  'VUV', 'XAF', 'XOF', 'XPF']);

/** Decimal places of the unit the API's `*Cents` amounts are counted in: 0 for JPY, 2 for EUR. */
export function minorUnitDigits(currency: string): number {
  return ZERO_DECIMAL.has(currency.toUpperCase()) ? 0 : 2;
}

/** An amount typed in the currency's own units ("50.5" EUR, "5000" JPY) in its minor unit (5050, 5000). */
export function toMinorUnits(amount: string | number, currency: string): number {
  return Math.round(Number(amount) * 10 ** minorUnitDigits(currency));
}

/** An amount in the minor unit (5050 EUR cents) in the currency's own units (50.5), e.g. for an input. */
export function fromMinorUnits(cents: number, currency: string): number {
  return cents / 10 ** minorUnitDigits(currency);
}

const formatters = new Map<string, Intl.NumberFormat>();

/** An amount in the currency's minor unit, written for people: money(5050, 'EUR') → "€50.50", money(5000, 'JPY') → "¥5,000". */
export function money(cents: number, currency: string): string {
  const digits = minorUnitDigits(currency);
  const whole = cents % 10 ** digits === 0;
  const key = `${currency}|${whole}`;
  let format = formatters.get(key);
  if (!format) {
    format = new Intl.NumberFormat(LOCALE, {
      style: 'currency',
      currency,
      minimumFractionDigits: whole ? 0 : digits,
      maximumFractionDigits: digits,
    });
    formatters.set(key, format);
  }
  return format.format(fromMinorUnits(cents, currency));
}

/**
 * A date and time in the VENUE's time zone (IANA, from Venue.timeZone) with the zone's abbreviation,
 * e.g. "Friday, 11 December 2026, 19:30 WET": a fan abroad sees when the doors really open.
 */
export function dateTime(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat(LOCALE, {
    weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit',
    timeZone, timeZoneName: 'short',
  }).format(new Date(iso));
}

/** "Fri, 11 Dec, 19:30 WET", in the venue's zone. */
export function shortDate(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat(LOCALE, {
    weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZone, timeZoneName: 'short',
  }).format(new Date(iso));
}

/** 125 → "2:05" */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** 125 → "about 2 minutes" */
export function roughDuration(seconds: number): string {
  if (seconds < 60) return 'less than a minute';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 60);
  return `about ${hours} hour${hours === 1 ? '' : 's'}`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
