// Boots the app: the header navigation, the routes, and a check that a stored token still works.
import './styles.css';
import { gql } from './api';
import { currentUser, getToken, onTokenChange, signOut, updateUser } from './auth';
import { h } from './dom';
import { currentPath, fallback, navigate, route, start, titled } from './router';
import { accountScreen } from './screens/account';
import { checkoutScreen, paymentReturnScreen } from './screens/checkout';
import { doorScreen } from './screens/door';
import { eventScreen } from './screens/event';
import { eventsScreen } from './screens/events';
import { authScreen } from './screens/login';
import { orderScreen } from './screens/order';
import { reportScreen } from './screens/report';
import { showScreen } from './screens/show';
import { waitingRoomScreen } from './screens/waiting-room';
import { waitlistScreen } from './screens/waitlist';
import { transfersScreen } from './screens/transfers';
import { resaleScreen } from './screens/resale';
import type { User } from './types';

route('/', eventsScreen);
route('/login', authScreen('login'));
route('/signup', authScreen('signup'));
route('/events/:id', eventScreen);
route('/shows/:id', showScreen);
route('/shows/:id/queue', waitingRoomScreen);
route('/shows/:id/waitlist', waitlistScreen);
route('/shows/:id/resale', resaleScreen);
route('/tickets', transfersScreen);
route('/checkout/:holdId', checkoutScreen);
route('/orders/:id', orderScreen);
route('/payment-return', paymentReturnScreen);
route('/account', accountScreen);
route('/door/:id', doorScreen);
route('/reports/:id', reportScreen);
fallback(({ root }) => {
  const heading = h('h1', {}, 'Page not found');
  root.append(heading, h('p', {}, h('a', { href: '#/' }, 'Back to events')));
  titled(root, heading, 'Not found');
});

function renderNav(user: User | null): void {
  const nav = document.getElementById('nav');
  if (!nav) return;
  const logout = h('button', { type: 'button', class: 'link-button' }, 'Log out');
  logout.addEventListener('click', () => {
    // Ends the session on the server too (every token of this user, and their live subscriptions);
    // offline, the token is still forgotten here.
    gql<{ logOut: boolean }>('mutation LogOut { logOut }').catch(() => undefined).finally(() => {
      signOut();
      navigate('/');
    });
  });
  nav.replaceChildren(h('ul', {},
    h('li', {}, h('a', { href: '#/' }, 'Events')),
    ...(user
      ? [h('li', {}, h('a', { href: '#/account' }, 'My orders')),
        h('li', {}, h('a', { href: '#/tickets' }, 'My tickets')),
        h('li', { class: 'who' }, h('span', { class: 'muted' }, `Signed in as ${user.name}`)),
        h('li', {}, logout)]
      : [h('li', {}, h('a', { href: `#/login?next=${encodeURIComponent(currentPath())}` }, 'Log in')),
        h('li', {}, h('a', { href: '#/signup' }, 'Sign up'))])));
}

/** A token kept from an earlier visit may have expired: ask who it belongs to, forget it if nobody. */
async function checkSession(): Promise<void> {
  if (!getToken()) return;
  try {
    const { viewer } = await gql<{ viewer: User | null }>('query Viewer { viewer { id email name role } }');
    if (viewer) updateUser(viewer);
    else signOut();
  } catch {
    /* offline or server down: keep the token, screens will report the problem */
  }
}

document.querySelector('[data-skip]')?.addEventListener('click', (event) => {
  // The skip link must not change the hash: that would be read as a route.
  event.preventDefault();
  document.getElementById('main')?.focus();
});
window.addEventListener('hashchange', () => renderNav(currentUser()));
onTokenChange(renderNav);
renderNav(currentUser());
void checkSession();
start(document.getElementById('main')!);
