// Per-tab booking state that must survive a reload but not outlive the tab: the active hold of a
// show, the order made from a hold (so "Pay" never creates two orders), and waiting-room admissions.

interface Admission {
  ticketId: string;
  token: string | null;
  expiresAt: string | null;
}

function get<T>(key: string): T | null {
  try {
    const raw = sessionStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}

function put(key: string, value: unknown): void {
  if (value === null) sessionStorage.removeItem(key);
  else sessionStorage.setItem(key, JSON.stringify(value));
}

export const activeHold = {
  get: (showId: string) => get<string>(`boxoffice.hold.${showId}`),
  set: (showId: string, holdId: string | null) => put(`boxoffice.hold.${showId}`, holdId),
};

/** The order created from a hold, and the idempotency key used to create it. */
export const orderForHold = {
  get: (holdId: string) => get<{ key: string; orderId: string | null }>(`boxoffice.order.${holdId}`),
  set: (holdId: string, value: { key: string; orderId: string | null } | null) => put(`boxoffice.order.${holdId}`, value),
  /** The hold an order was made from in this tab, to send the buyer back to its checkout. */
  holdOf(orderId: string): string | null {
    for (let i = 0; i < sessionStorage.length; i++) {
      const key = sessionStorage.key(i);
      if (key?.startsWith('boxoffice.order.') && get<{ orderId: string | null }>(key)?.orderId === orderId) {
        return key.slice('boxoffice.order.'.length);
      }
    }
    return null;
  },
};

export const admission = {
  get: (showId: string) => get<Admission>(`boxoffice.admission.${showId}`),
  set: (showId: string, value: Admission | null) => put(`boxoffice.admission.${showId}`, value),
};

/**
 * Seats picked but not held yet, per show: an anonymous fan who is sent to log in comes back to the
 * same selection (sessionStorage: this tab only). The seats are re-checked against live state on return.
 */
export interface SavedSelection {
  seats: import('./types').Seat[];
  generalAdmission: { sectionId: string; quantity: number }[];
}

export const pendingSelection = {
  get: (showId: string) => get<SavedSelection>(`boxoffice.selection.${showId}`),
  set: (showId: string, value: SavedSelection | null) =>
    put(`boxoffice.selection.${showId}`, value && (value.seats.length || value.generalAdmission.length) ? value : null),
};
