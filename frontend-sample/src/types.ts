// TypeScript shapes of the parts of the public contract (contract/schema.graphql) this app reads.
// Only the fields the app selects are declared; every union result carries __typename.

export type Role = 'FAN' | 'ORGANIZER' | 'ADMIN';
export type SeatStatus = 'AVAILABLE' | 'HELD' | 'SOLD' | 'BLOCKED';
export type HoldStatus = 'ACTIVE' | 'RELEASED' | 'EXPIRED' | 'CONVERTED';
export type OrderStatus = 'PENDING_PAYMENT' | 'CONFIRMED' | 'CANCELLED' | 'REFUNDED' | 'DISPUTED';
export type PaymentStatus =
  | 'REQUIRES_PAYMENT_METHOD'
  | 'REQUIRES_ACTION'
  | 'PROCESSING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'CANCELED'
  | 'REFUNDED';
export type QueueStatus = 'WAITING' | 'ADMITTED' | 'EXPIRED';

export type ProblemCode =
  | 'INVALID_INPUT'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'EMAIL_TAKEN'
  | 'INVALID_CREDENTIALS'
  | 'NOT_ON_SALE'
  | 'SEATS_UNAVAILABLE'
  | 'LIMIT_EXCEEDED'
  | 'HOLD_NOT_ACTIVE'
  | 'ADMISSION_REQUIRED'
  | 'IDEMPOTENCY_CONFLICT'
  | 'PAYMENT_DECLINED'
  | 'RATE_LIMITED';

export interface Rejected {
  __typename: 'Rejected';
  code: ProblemCode;
  message: string;
  field: string | null;
}

export interface SeatsUnavailable {
  __typename: 'SeatsUnavailable';
  code: ProblemCode;
  message: string;
  seatIds: string[];
}

export type Problem = Rejected | SeatsUnavailable;

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export interface AuthPayload {
  __typename: 'AuthPayload';
  token: string;
  user: User;
}

export interface Venue {
  id: string;
  name: string;
  city: string;
  /** IANA zone: every time of a show at this venue is shown in it. */
  timeZone: string;
}

export interface PriceTier {
  id: string;
  name: string;
  priceCents: number;
  sectionIds: string[];
}

export interface Seat {
  id: string;
  sectionId: string;
  section: string;
  row: string;
  number: string;
  status: SeatStatus;
  version: number;
  priceCents: number;
  accessible: boolean;
  obstructedView: boolean;
  x: number;
  y: number;
}

export interface SectionAvailability {
  sectionId: string;
  name: string;
  generalAdmission: boolean;
  capacity: number;
  available: number;
}

export interface SeatChange {
  seatId: string;
  status: SeatStatus;
  version: number;
}

export interface SeatDelta {
  showId: string;
  version: number;
  seats: SeatChange[];
  sections: SectionAvailability[];
}

export interface WaitingRoomSettings {
  enabled: boolean;
  admitPerMinute: number;
  queueLength: number;
}

export interface ShowSummary {
  id: string;
  startsAt: string;
  onSaleAt: string | null;
  currency: string;
  waitingRoom: WaitingRoomSettings;
  priceTiers: Pick<PriceTier, 'priceCents'>[];
  availability: { sections: Pick<SectionAvailability, 'available'>[] };
}

export interface EventSummary {
  id: string;
  name: string;
  performer: string;
  category: string;
  description: string | null;
  venue: Venue;
  shows: ShowSummary[];
}

export interface GeneralAdmissionLine {
  sectionId: string;
  quantity: number;
  priceCents: number;
}

export interface Hold {
  __typename: 'Hold';
  id: string;
  status: HoldStatus;
  expiresAt: string;
  totalCents: number;
  currency: string;
  seats: Seat[];
  generalAdmission: GeneralAdmissionLine[];
}

export interface Payment {
  id: string;
  status: PaymentStatus;
  amountCents: number;
  currency: string;
  nextActionUrl: string | null;
  failureReason: string | null;
}

export interface Ticket {
  id: string;
  /** VOID: refunded, cancelled, transferred away or resold; listed so the fan sees what became of it. */
  status: 'VALID' | 'CHECKED_IN' | 'VOID';
  sectionId: string;
  barcode: string;
  /** The barcode as an SVG QR code (Ticket.qrSvg), shown as an image, never parsed into the page. */
  qrSvg: string;
  pdfUrl: string;
  seat: Pick<Seat, 'id' | 'section' | 'row' | 'number'> | null;
}

export interface OrderItem {
  sectionId: string;
  priceCents: number;
  seat: Pick<Seat, 'id' | 'section' | 'row' | 'number'> | null;
}

export interface Order {
  __typename: 'Order';
  id: string;
  status: OrderStatus;
  totalCents: number;
  currency: string;
  createdAt: string;
  payment: Payment | null;
  items: OrderItem[];
  tickets: Ticket[];
  show: {
    id: string;
    startsAt: string;
    status?: 'SCHEDULED' | 'CANCELLED';
    refundPolicy?: { fanRefundsUntilHoursBefore: number | null };
    event: { id: string; name: string; venue: Venue };
    availability?: { sections: SectionAvailability[] };
  };
}

export interface WaitingRoomTicket {
  __typename: 'WaitingRoomTicket';
  id: string;
  showId: string;
  status: QueueStatus;
  position: number | null;
  estimatedWaitSeconds: number | null;
  admissionToken: string | null;
  admissionExpiresAt: string | null;
}

export interface Notification {
  id: string;
  kind: 'ORDER_CONFIRMED' | 'PAYMENT_FAILED' | 'HOLD_EXPIRED' | 'ORDER_CANCELLED';
  subject: string;
  createdAt: string;
}

export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: PageInfo;
}
