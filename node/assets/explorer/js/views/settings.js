// Settings: sign in with an account (a session token), or paste a service token. Either is
// kept in sessionStorage (this tab only, gone when it closes) and sent with every API call;
// event streams carry it as `access_token`.

import { get, post, request, token, setToken } from '../api.js';
import { h, field } from '../dom.js';

/** Renders the sign-in and token forms. */
export async function renderSettings(view) {
  document.title = 'Settings · kgnode';
  const status = h('p', { role: 'status', testid: 'token-status', 'aria-live': 'polite' });

  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username',
    spellcheck: 'false', testid: 'login-username' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password',
    testid: 'login-password' });
  const signIn = h('button', { type: 'submit', testid: 'login-submit', text: 'Sign in' });
  const signOut = h('button', { type: 'button', class: 'secondary', testid: 'logout', text: 'Sign out' });
  const login = h('form', { class: 'settings', 'aria-label': 'Sign in' },
    field('Username', username), field('Password', password), h('div', { class: 'row' }, signIn, signOut));

  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false',
    testid: 'token-input', value: token(), placeholder: 'kgn_…' });
  const save = h('button', { type: 'submit', testid: 'token-save', text: 'Save' });
  const clear = h('button', { type: 'button', class: 'secondary', text: 'Forget' });
  const form = h('form', { class: 'settings', 'aria-label': 'Service token' },
    field('Bearer token', input), h('div', { class: 'row' }, save, clear));

  view.append(h('h1', { text: 'Settings' }),
    h('h2', { text: 'Sign in' }), login,
    h('h2', { text: 'Or a service token' }),
    h('p', { text: 'Paste a token (`kgnode token create`) to write, and to read private convergences it grants. It stays in this tab only.' }),
    form, status);

  const changed = () => window.dispatchEvent(new Event('kgnode-token'));
  const check = async () => {
    if (!token()) {
      status.textContent = 'Not signed in: reading public convergences only.';
      status.dataset.state = 'none';
      return;
    }
    try {
      const me = await get('/me');
      if (me.kind === 'participant') {
        const roles = me.memberships.map((m) => `${m.role} in ${m.convergence}`).join(', ');
        status.textContent = `Signed in as ${me.participant.display_name} (${me.participant.username})`
          + (me.participant.node_admin ? ', node administrator' : '')
          + (roles ? `; ${roles}.` : '.');
      } else {
        status.textContent = `Token saved (${me.role}${me.convergence_id ? ', one convergence' : ', node-wide'}).`;
      }
      status.dataset.state = 'saved';
    } catch (error) {
      status.textContent = `The node refused these credentials: ${error.message}`;
      status.dataset.state = 'refused';
    }
  };
  login.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const session = await post('/sessions', { username: username.value.trim(), password: password.value });
      setToken(session.token);
      input.value = '';
      password.value = '';
      changed();
    } catch (error) {
      status.textContent = `Sign-in failed: ${error.message}`;
      status.dataset.state = 'refused';
      return;
    }
    await check();
  });
  signOut.addEventListener('click', async () => {
    if (token().startsWith('kgs_')) {
      try {
        await request('DELETE', '/sessions/current');
      } catch {
        // An expired session is signed out already.
      }
    }
    setToken('');
    input.value = '';
    changed();
    await check();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setToken(input.value);
    changed();
    check();
  });
  clear.addEventListener('click', () => {
    setToken('');
    input.value = '';
    changed();
    check();
  });
  await check();
}
