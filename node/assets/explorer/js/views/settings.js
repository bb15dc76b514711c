// Settings: a bearer token pasted here is kept in sessionStorage (this tab only, gone when it
// closes) and sent with every API call; event streams carry it as `access_token`.

import { get, token, setToken } from '../api.js';
import { h, field } from '../dom.js';

/** Renders the token form. */
export async function renderSettings(view) {
  document.title = 'Settings · kgnode';
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false',
    testid: 'token-input', value: token(), placeholder: 'kgn_…' });
  const status = h('p', { role: 'status', testid: 'token-status', 'aria-live': 'polite' });
  const save = h('button', { type: 'submit', testid: 'token-save', text: 'Save' });
  const clear = h('button', { type: 'button', class: 'secondary', text: 'Forget' });
  const form = h('form', { class: 'settings' }, field('Bearer token', input), h('div', { class: 'row' }, save, clear));
  view.append(h('h1', { text: 'Settings' }),
    h('p', { text: 'Paste a token (`kgnode token create`) to write, and to read private convergences it grants. It stays in this tab only.' }),
    form, status);

  const check = async () => {
    if (!token()) {
      status.textContent = 'No token: reading public convergences only.';
      status.dataset.state = 'none';
      return;
    }
    try {
      const page = await get('/convergences', { limit: 1 });
      status.textContent = `Token saved; ${page.items.length ? 'convergences are readable' : 'no convergence is readable yet'}.`;
      status.dataset.state = 'saved';
    } catch (error) {
      status.textContent = `Token saved, but the node refused it: ${error.message}`;
      status.dataset.state = 'refused';
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setToken(input.value);
    window.dispatchEvent(new Event('kgnode-token'));
    check();
  });
  clear.addEventListener('click', () => {
    setToken('');
    input.value = '';
    window.dispatchEvent(new Event('kgnode-token'));
    check();
  });
  await check();
}
