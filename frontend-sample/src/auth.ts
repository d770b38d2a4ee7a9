// The signed-in session: the bearer token and the user it belongs to, in sessionStorage: a reload
// stays signed in, but the token is this tab's only and is gone when the tab closes (localStorage
// would keep it on disk for a week, readable by any script of the origin in any tab).
// Network calls live in api.ts and the login screen.
import type { User } from './types';

const TOKEN_KEY = 'boxoffice.token';
const USER_KEY = 'boxoffice.user';

type Listener = (user: User | null) => void;
const listeners = new Set<Listener>();

function read<T>(key: string): T | null {
  try {
    const raw = sessionStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}

export function getToken(): string | null {
  return read<string>(TOKEN_KEY);
}

export function currentUser(): User | null {
  return getToken() ? read<User>(USER_KEY) : null;
}

export function signIn(token: string, user: User): void {
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(token));
  sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  notify();
}

/** Keeps the token, refreshes what we know of the user (e.g. after asking `viewer`). */
export function updateUser(user: User): void {
  sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  notify();
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
  notify();
}

export function onTokenChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function notify(): void {
  const user = currentUser();
  for (const listener of listeners) listener(user);
}
