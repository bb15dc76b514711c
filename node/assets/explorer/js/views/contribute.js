// The contribute form: posts a text as a contribution and follows it (from the convergence's
// event stream, with a slow poll as a fallback) until its extracted artifacts exist, then
// links to them.

import { get, post, token } from '../api.js';
import { h, replace, field, artifactRoute, kindBadge } from '../dom.js';

const POLL_MS = 1500;
const DONE = new Set(['complete', 'failed']);

/** The form for convergence `slug`: `{element, onEvent(type, data), stop()}`. */
export function contributeForm(slug, convergence) {
  const text = h('textarea', { name: 'text', rows: 5, required: true, testid: 'contribute-input',
    placeholder: 'How do we keep the gardens watered? We should build rain barrels.' });
  const author = h('input', { name: 'author', autocomplete: 'nickname', maxlength: 200 });
  const submit = h('button', { type: 'submit', testid: 'contribute-submit', text: 'Contribute' });
  const status = h('p', { class: 'status', testid: 'contribution-status', role: 'status', 'aria-live': 'polite' });
  const products = h('ul', { class: 'items', 'aria-label': 'Extracted artifacts' });
  const form = h('form', { class: 'contribute' },
    field('Your contribution', text),
    field('Your name (optional)', author),
    submit);
  const readOnly = Boolean(convergence.origin);
  const element = h('section', { 'aria-labelledby': 'contribute-h' },
    h('h2', { id: 'contribute-h', text: 'Contribute' }),
    readOnly
      ? h('p', { class: 'muted', text: 'This convergence mirrors another node: it is read-only here.' })
      : form,
    token() ? null : h('p', { class: 'muted small' }, 'Writing needs a token: paste one in ',
      h('a', { href: '#/settings', text: 'Settings' }), '.'),
    status, products);

  let current = null;
  let poll = null;
  let shownFor = null;

  const update = async (contribution) => {
    if (!current || contribution.id !== current) return;
    // A late answer (a poll sent before the stream's news) never moves a finished one back.
    if (DONE.has(status.dataset.status) && !DONE.has(contribution.status)) return;
    status.dataset.status = contribution.status;
    status.textContent = contribution.status === 'failed'
      ? `failed: ${contribution.error || 'extraction failed'}`
      : contribution.status;
    if (!DONE.has(contribution.status)) return;
    clearTimeout(poll);
    if (contribution.status !== 'complete' || shownFor === contribution.id) return;
    shownFor = contribution.id;
    const ids = [...contribution.artifacts, ...contribution.reused];
    const artifacts = await Promise.all(ids.map((id) => get(`/artifacts/${id}`).catch(() => null)));
    replace(products, artifacts.filter(Boolean).map((artifact) => h('li', { class: 'item' },
      h('a', { href: artifactRoute(artifact.id), testid: 'contribution-artifact', text: artifact.title }),
      ' ', kindBadge(artifact.kind),
      contribution.reused.includes(artifact.id) ? h('span', { class: 'badge', text: 'existing' }) : null)));
  };

  const refresh = async () => {
    if (!current) return;
    try {
      await update(await get(`/contributions/${current}`));
    } catch (error) {
      console.warn(error);
    }
    if (current && status.dataset.status && !DONE.has(status.dataset.status)) {
      poll = setTimeout(refresh, POLL_MS);
    }
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    products.replaceChildren();
    status.textContent = 'sending';
    status.dataset.status = 'sending';
    try {
      const body = { text: text.value };
      if (author.value.trim()) body.author = author.value.trim();
      const created = await post(`/convergences/${encodeURIComponent(slug)}/contributions`, body);
      current = created.id;
      text.value = '';
      await update(created);
      clearTimeout(poll);
      poll = setTimeout(refresh, POLL_MS);
    } catch (error) {
      status.dataset.status = 'error';
      status.textContent = `not sent: ${error.message}`;
    } finally {
      submit.disabled = false;
    }
  });

  return {
    element,
    onEvent(type, data) {
      if (data.entity) update(data.entity).catch(console.error);
    },
    stop() {
      clearTimeout(poll);
      current = null;
    },
  };
}
