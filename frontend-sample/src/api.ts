// The whole GraphQL client of the app: a small fetch wrapper for queries and mutations,
// graphql-ws for subscriptions, and helpers for the contract's result unions.
import { createClient, type Client } from 'graphql-ws';
import { getToken, onTokenChange } from './auth';
import type { Problem, ProblemCode } from './types';

/** Where the API lives. Same origin by default (the backend serves this app at `/`). */
export const API_URL = new URL(import.meta.env.VITE_BOXOFFICE_API ?? '/graphql', location.href).toString();
const WS_URL = API_URL.replace(/^http/, 'ws');

/** Selections every mutation result carries so failures can be shown to people. */
export const REJECTED_FIELDS = '... on Rejected { code message field }';
/** Only HoldResult can also be SeatsUnavailable. */
export const HOLD_PROBLEM_FIELDS = `${REJECTED_FIELDS} ... on SeatsUnavailable { code message seatIds }`;

export class ApiError extends Error {
  constructor(message: string, readonly kind: 'network' | 'graphql' | 'http', readonly retryable: boolean) {
    super(message);
    this.name = 'ApiError';
  }
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/**
 * POSTs one operation. GraphQL errors (malformed requests, server faults) throw an ApiError;
 * expected failures come back as data (the *Result unions) and are the caller's to read.
 */
export async function gql<T>(query: string, variables: Record<string, unknown> = {}, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(API_URL, { method: 'POST', headers, body: JSON.stringify({ query, variables }), signal });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError('Cannot reach the server. Check your connection and try again.', 'network', true);
  }
  let body: GraphQLResponse<T>;
  try {
    body = (await response.json()) as GraphQLResponse<T>;
  } catch {
    throw new ApiError(`The server answered ${response.status} ${response.statusText}.`, 'http', response.status >= 500);
  }
  if (body.errors?.length) {
    throw new ApiError(body.errors.map((e) => e.message).join(' '), 'graphql', false);
  }
  if (!body.data) throw new ApiError(`The server answered ${response.status} without data.`, 'http', true);
  return body.data;
}

/**
 * Runs a mutation that carries an idempotency key, retrying once on a network failure with the SAME
 * key: the server then returns the first attempt's result instead of acting twice.
 */
export async function gqlIdempotent<T>(query: string, variables: Record<string, unknown>): Promise<T> {
  try {
    return await gql<T>(query, variables);
  } catch (error) {
    if (error instanceof ApiError && error.retryable) return gql<T>(query, variables);
    throw error;
  }
}

export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; plain-http deployments still get a random v4 UUID.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ------------------------------------------------------------------ result unions

/** The failure in a union result, or null when it is the success type. */
export function problemOf(result: { __typename: string }): Problem | null {
  return result.__typename === 'Rejected' || result.__typename === 'SeatsUnavailable' ? (result as Problem) : null;
}

const FRIENDLY: Partial<Record<ProblemCode, string>> = {
  UNAUTHENTICATED: 'Please log in first.',
  INVALID_CREDENTIALS: 'That email and password do not match an account.',
  EMAIL_TAKEN: 'An account with that email already exists. Log in instead?',
  NOT_ON_SALE: 'Tickets for this show are not on sale right now.',
  LIMIT_EXCEEDED: 'That is more tickets than one person may buy for this show.',
  HOLD_NOT_ACTIVE: 'Your seats are no longer held (the hold expired or was released). Please pick seats again.',
  ADMISSION_REQUIRED: 'This show has a waiting room: you need to go through it before you can pick seats.',
  PAYMENT_DECLINED: 'Your card was declined — try another card.',
  RATE_LIMITED: 'Too many attempts. Please wait a moment and try again.',
  IDEMPOTENCY_CONFLICT: 'This request clashed with an earlier one. Please try again.',
};

/** A sentence a fan can act on. The server's own message is kept when it is more specific. */
export function describeProblem(problem: Problem): string {
  if (problem.__typename === 'SeatsUnavailable') {
    const n = problem.seatIds.length;
    return `Sorry, ${n === 1 ? 'a seat you picked was' : `${n} seats you picked were`} just taken by someone else. ` +
      'They are now marked on the map — please choose others.';
  }
  const friendly = FRIENDLY[problem.code];
  if (problem.code === 'INVALID_INPUT' || !friendly) {
    return problem.field ? `${problem.message} (${problem.field})` : problem.message;
  }
  return friendly;
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return `Something went wrong: ${error.message}`;
  return 'Something went wrong.';
}

// ------------------------------------------------------------------ server clock

let clockOffsetMs = 0;

/** Asks the server for its time; countdowns then use Date.now() + offset so they match the server. */
export async function syncServerClock(): Promise<number> {
  const sent = Date.now();
  const { serverTime } = await gql<{ serverTime: string }>('query ServerTime { serverTime }');
  const received = Date.now();
  clockOffsetMs = Date.parse(serverTime) - (sent + received) / 2;
  return clockOffsetMs;
}

export function serverNow(): number {
  return Date.now() + clockOffsetMs;
}

// ------------------------------------------------------------------ subscriptions

export type LiveState = 'connecting' | 'live' | 'reconnecting';
const liveListeners = new Set<(state: LiveState) => void>();
let liveState: LiveState = 'connecting';
let wsClient: Client | null = null;

function setLiveState(state: LiveState): void {
  liveState = state;
  for (const listener of liveListeners) listener(state);
}

export function onLiveState(listener: (state: LiveState) => void): () => void {
  liveListeners.add(listener);
  listener(liveState);
  return () => liveListeners.delete(listener);
}

/**
 * A WebSocket that also accepts protocol messages sent as binary frames. graphql-transport-ws
 * specifies text frames, but a server that encodes JSON to bytes (as boxoffice's did while this
 * sample was written) sends binary ones; decoding them as UTF-8 keeps the app working with both.
 */
class TolerantWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols);
    this.binaryType = 'arraybuffer';
    const decoder = new TextDecoder();
    const native = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage')!;
    Object.defineProperty(this, 'onmessage', {
      get: () => native.get!.call(this),
      set: (listener: ((event: MessageEvent) => void) | null) =>
        native.set!.call(this, listener && ((event: MessageEvent) =>
          listener(typeof event.data === 'string' ? event : new MessageEvent('message', { data: decoder.decode(event.data as ArrayBuffer) })))),
    });
  }
}

function client(): Client {
  if (!wsClient) {
    wsClient = createClient({
      url: WS_URL,
      webSocketImpl: TolerantWebSocket,
      lazy: true,
      // The token travels in connection_init, as the contract says.
      connectionParams: () => {
        const token = getToken();
        return token ? { Authorization: `Bearer ${token}` } : {};
      },
      retryAttempts: Infinity,
      shouldRetry: () => true,
      keepAlive: 20_000,
      on: {
        connecting: () => setLiveState(liveState === 'live' ? 'reconnecting' : liveState),
        connected: () => setLiveState('live'),
        closed: () => setLiveState('reconnecting'),
      },
    });
  }
  return wsClient;
}

// A new token means a new connection_init: drop the socket, subscriptions re-open lazily.
let socketToken = getToken();
onTokenChange(() => {
  if (getToken() === socketToken) return;
  socketToken = getToken();
  const old = wsClient;
  wsClient = null;
  void old?.dispose();
});

export interface SubscriptionHandlers<T> {
  next: (data: T) => void;
  error?: (message: string) => void;
  complete?: () => void;
}

/** Starts a subscription; returns the function that stops it. */
export function subscribe<T>(query: string, variables: Record<string, unknown>, handlers: SubscriptionHandlers<T>): () => void {
  return client().subscribe<T>(
    { query, variables },
    {
      next: (message) => {
        if (message.errors?.length) handlers.error?.(message.errors.map((e) => e.message).join(' '));
        else if (message.data) handlers.next(message.data as T);
      },
      error: (error) => {
        const message = Array.isArray(error)
          ? error.map((e: { message: string }) => e.message).join(' ')
          : error instanceof Error
            ? error.message
            : 'The live connection failed.';
        handlers.error?.(message);
      },
      complete: () => handlers.complete?.(),
    },
  );
}

// ------------------------------------------------------------------ tickets

/**
 * Ticket PDFs are only given to their owner, so they are fetched with the Authorization header
 * and handed to the browser as a blob URL (a plain link could not carry the header).
 */
export async function fetchTicketPdf(pdfUrl: string): Promise<Blob> {
  const token = getToken();
  const response = await fetch(new URL(pdfUrl, API_URL), { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!response.ok) {
    throw new ApiError(
      response.status === 401 || response.status === 403 || response.status === 404
        ? 'This ticket is only available to its owner: log in with the account that bought it.'
        : `Could not download the ticket (${response.status}).`,
      'http',
      response.status >= 500,
    );
  }
  const blob = await response.blob();
  return blob.type === 'application/pdf' ? blob : new Blob([blob], { type: 'application/pdf' });
}
