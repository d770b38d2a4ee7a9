// A hash router: `#/shows/123?x=1` → the screen registered for `/shows/:id`.
// Hash routes need no server support, so dist/ can be served as plain static files.
import { clear, h } from './dom';

export interface ScreenContext {
  root: HTMLElement;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Aborted when the person leaves the screen: stop timers, fetches and subscriptions. */
  signal: AbortSignal;
  /** Registers work to undo when the screen is left. */
  onLeave(fn: () => void): void;
}

export type Screen = (ctx: ScreenContext) => void | Promise<void>;

interface Route {
  pattern: RegExp;
  keys: string[];
  screen: Screen;
}

const routes: Route[] = [];
let notFound: Screen = ({ root }) => {
  root.textContent = 'Page not found.';
};
let leaveCurrent: (() => void) | null = null;

export function route(path: string, screen: Screen): void {
  const keys: string[] = [];
  const pattern = new RegExp(
    '^' + path.replace(/\/:(\w+)/g, (_, key: string) => (keys.push(key), '/([^/]+)')) + '/?$',
  );
  routes.push({ pattern, keys, screen });
}

export function fallback(screen: Screen): void {
  notFound = screen;
}

export function navigate(path: string, { replace = false } = {}): void {
  const hash = `#${path}`;
  if (replace) {
    history.replaceState(null, '', hash);
    render();
  } else if (location.hash === hash) {
    render();
  } else {
    location.hash = hash;
  }
}

/** The current route as a path, e.g. "/shows/123?x=1", for "come back here after login". */
export function currentPath(): string {
  return location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
}

export function start(root: HTMLElement): void {
  rootEl = root;
  window.addEventListener('hashchange', render);
  render();
}

let rootEl: HTMLElement | null = null;

function render(): void {
  const root = rootEl;
  if (!root) return;
  // Only "#/..." are routes; other hashes (in-page anchors) are left alone.
  if (location.hash && !location.hash.startsWith('#/')) return;
  const [path, search = ''] = currentPath().split('?');
  leaveCurrent?.();
  const controller = new AbortController();
  const leaving: (() => void)[] = [];
  leaveCurrent = () => {
    controller.abort();
    for (const fn of leaving.splice(0)) {
      try {
        fn();
      } catch (error) {
        console.error(error);
      }
    }
  };
  clear(root);
  const match = routes
    .map((r) => ({ r, m: r.pattern.exec(path) }))
    .find((x) => x.m !== null);
  const params: Record<string, string> = {};
  match?.r.keys.forEach((key, i) => (params[key] = decodeURIComponent(match.m![i + 1])));
  const ctx: ScreenContext = {
    root,
    params,
    query: new URLSearchParams(search),
    signal: controller.signal,
    onLeave: (fn) => leaving.push(fn),
  };
  void Promise.resolve((match?.r.screen ?? notFound)(ctx)).catch((error: unknown) => {
    if (!controller.signal.aborted) console.error(error);
  });
}

/** Sets the title and moves focus to the screen's heading so screen readers announce the new page. */
export function titled(root: HTMLElement, heading: HTMLElement, title: string): void {
  document.title = `${title} · boxoffice sample`;
  heading.tabIndex = -1;
  heading.classList.add('screen-title');
  if (!root.contains(heading)) root.prepend(heading);
  if (document.activeElement === document.body || !document.activeElement || root.contains(document.activeElement) === false) {
    heading.focus({ preventScroll: false });
  }
}

/** A screen whose subject does not exist (or is not the viewer's): its heading, focused and titled, then
 *  what the person can do next. */
export function missing(root: HTMLElement, what: string, title: string, ...next: Node[]): void {
  const heading = h('h1', {}, what);
  root.replaceChildren(heading, ...next);
  titled(root, heading, title);
}
