// Log in and sign up. The token is kept by auth.ts; `?next=` brings people back where they were.
import { describeError, describeProblem, gql, REJECTED_FIELDS, problemOf } from '../api';
import { signIn } from '../auth';
import { busy, h, notice } from '../dom';
import { navigate, titled, type ScreenContext } from '../router';
import type { AuthPayload, Rejected } from '../types';

const USER_FIELDS = 'token user { id email name role }';

const LOG_IN = `
  mutation LogIn($email: String!, $password: String!) {
    logIn(email: $email, password: $password) { __typename ... on AuthPayload { ${USER_FIELDS} } ${REJECTED_FIELDS} }
  }`;

const SIGN_UP = `
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) { __typename ... on AuthPayload { ${USER_FIELDS} } ${REJECTED_FIELDS} }
  }`;

type AuthResult = AuthPayload | Rejected;

function field(name: string, label: string, attrs: Record<string, string | boolean>): { wrap: HTMLElement; input: HTMLInputElement; error: HTMLElement } {
  const id = `auth-${name}`;
  const error = h('p', { class: 'field-error', id: `${id}-error` });
  const input = h('input', { id, name, required: true, ...attrs });
  return { wrap: h('div', { class: 'field' }, h('label', { for: id }, label), input, error), input, error };
}

export function authScreen(mode: 'login' | 'signup') {
  return ({ root, query }: ScreenContext): void => {
    const next = query.get('next') || '/';
    const signingUp = mode === 'signup';
    const heading = h('h1', {}, signingUp ? 'Create an account' : 'Log in');
    const name = field('name', 'Your name', { autocomplete: 'name' });
    const email = field('email', 'Email', { type: 'email', autocomplete: 'email' });
    const password = field('password', 'Password', {
      type: 'password',
      autocomplete: signingUp ? 'new-password' : 'current-password',
      ...(signingUp ? { minlength: '10' } : {}), // the server's password policy (booking/passwords.py)
    });
    const status = h('div', { class: 'form-status' });
    const submit = h('button', { type: 'submit', class: 'button primary' }, signingUp ? 'Create account' : 'Log in');
    const fields = signingUp ? [name, email, password] : [email, password];
    const form = h('form', { class: 'card form auth-form', novalidate: true },
      ...fields.map((f) => f.wrap),
      status,
      submit,
      h('p', {}, signingUp ? 'Already have an account? ' : 'New here? ',
        h('a', { href: `#/${signingUp ? 'login' : 'signup'}?${query.get('reason') ? `reason=${encodeURIComponent(query.get('reason')!)}&` : ''}next=${encodeURIComponent(next)}` }, signingUp ? 'Log in' : 'Create an account')));
    if (!signingUp) {
      form.append(h('p', { class: 'hint' }, 'Demo account: fan@demo.boxoffice.test / demo-fan-pass'));
    }

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      for (const f of fields) {
        f.error.textContent = '';
        f.input.removeAttribute('aria-invalid');
      }
      status.replaceChildren();
      const invalid = fields.find((f) => !f.input.checkValidity());
      if (invalid) {
        showFieldError(invalid, invalid.input.validationMessage);
        return;
      }
      busy(submit, true);
      try {
        const result = signingUp
          ? (await gql<{ signUp: AuthResult }>(SIGN_UP, { input: { email: email.input.value.trim(), password: password.input.value, name: name.input.value.trim() } })).signUp
          : (await gql<{ logIn: AuthResult }>(LOG_IN, { email: email.input.value.trim(), password: password.input.value })).logIn;
        const problem = problemOf(result);
        if (problem) {
          const target = fields.find((f) => f.input.name === (problem as Rejected).field);
          if (target) showFieldError(target, describeProblem(problem));
          else status.replaceChildren(notice('error', describeProblem(problem)));
          return;
        }
        const auth = result as AuthPayload;
        signIn(auth.token, auth.user);
        navigate(next, { replace: true });
      } catch (error) {
        status.replaceChildren(notice('error', describeError(error)));
      } finally {
        busy(submit, false);
      }
    });

    // Sent here by "Hold": say why, and that nothing picked is lost.
    const reason = query.get('reason') === 'hold'
      ? notice('info', 'Log in to hold these seats. Your selection is kept: you will be back on the seat map with it in a moment.')
      : null;
    root.append(heading, ...(reason ? [reason] : []), form);
    titled(root, heading, signingUp ? 'Sign up' : 'Log in');
  };
}

function showFieldError(f: { input: HTMLInputElement; error: HTMLElement }, message: string): void {
  f.error.textContent = message;
  f.input.setAttribute('aria-invalid', 'true');
  f.input.setAttribute('aria-describedby', f.error.id);
  f.input.focus();
}
