// Search: the API's query language in one box, facets (kind, dimension) to click, highlighted
// snippets and pagination. The state lives in the hash (`#/search?q=...`) so that a search can
// be bookmarked and shared; typing replaces the history entry instead of adding one per key.

import { get } from '../api.js';
import { h, replace, field, artifactRoute, convergenceRoute, kindBadge } from '../dom.js';
import { snippetNodes } from '../snippet.js';

const LIMIT = 20;
const TYPING_MS = 100;

function list(value) {
  return value ? value.split(',').filter(Boolean) : [];
}

/** Renders the search page for the hash's parameters. */
export async function renderSearch(view, { params }) {
  document.title = 'Search · kgnode';
  const state = {
    q: params.get('q') || '',
    convergence: params.get('convergence') || '',
    kind: list(params.get('kind')),
    dimension: list(params.get('dimension')),
    offset: Math.max(0, Number(params.get('offset')) || 0),
  };

  const input = h('input', { type: 'search', name: 'q', value: state.q, testid: 'search-input',
    autocomplete: 'off', placeholder: 'words, "phrases", -excluded, OR, garde*, title:garden' });
  const scope = h('p', { class: 'meta' });
  const facets = h('div', { class: 'facets' });
  const summary = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const results = h('ol', { class: 'results', 'aria-label': 'Results' });
  const prev = h('button', { type: 'button', class: 'secondary', testid: 'page-prev', text: 'Previous' });
  const next = h('button', { type: 'button', class: 'secondary', testid: 'page-next', text: 'Next' });
  const form = h('form', { role: 'search', class: 'inline' }, field('Search', input),
    h('button', { type: 'submit', text: 'Search' }));
  view.append(h('h1', { text: 'Search' }), form, scope,
    h('div', { class: 'search-layout' },
      h('aside', { 'aria-label': 'Facets' }, facets),
      h('section', { 'aria-label': 'Results' }, summary, results,
        h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, next))));

  let sequence = 0;
  let typing = null;

  const remember = () => {
    const query = new URLSearchParams();
    query.set('q', state.q);
    if (state.convergence) query.set('convergence', state.convergence);
    if (state.kind.length) query.set('kind', state.kind.join(','));
    if (state.dimension.length) query.set('dimension', state.dimension.join(','));
    if (state.offset) query.set('offset', String(state.offset));
    history.replaceState(null, '', `#/search?${query}`);
  };

  const toggle = (facet, value) => {
    const values = state[facet];
    state[facet] = values.includes(value) ? values.filter((v) => v !== value) : [...values, value];
    state.offset = 0;
    run();
  };

  const drawScope = () => {
    replace(scope, state.convergence
      ? ['In ', h('a', { href: convergenceRoute(state.convergence), text: state.convergence }), ' ',
        h('button', { type: 'button', class: 'link', text: 'search everywhere',
          onclick: () => { state.convergence = ''; state.offset = 0; run(); } })]
      : 'In every convergence you may read.');
  };

  const drawFacets = (counts) => {
    const group = (facet, title) => {
      const entries = Object.entries(counts[facet] || {});
      for (const value of state[facet]) if (!entries.some(([v]) => v === value)) entries.push([value, 0]);
      entries.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      return h('fieldset', { class: 'facet-group' }, h('legend', { text: title }),
        entries.length ? entries.slice(0, 30).map(([value, count]) => {
          const pressed = state[facet].includes(value);
          return h('button', {
            type: 'button', class: 'facet', testid: 'facet', 'aria-pressed': String(pressed),
            dataset: { facet, value }, onclick: () => toggle(facet, value),
          }, h('span', { text: value }), h('span', { class: 'count', text: String(count) }));
        }) : h('p', { class: 'muted small', text: 'none' }));
    };
    replace(facets, group('kind', 'Kind'), group('dimension', 'Dimension'));
  };

  const run = async () => {
    const mine = ++sequence;
    remember();
    drawScope();
    summary.textContent = 'Searching…';
    try {
      const answer = await get('/search', {
        q: state.q, convergence: state.convergence, kind: state.kind.join(','),
        dimension: state.dimension.join(','), limit: LIMIT, offset: state.offset,
      });
      if (mine !== sequence) return;
      drawFacets(answer.facets);
      replace(results, answer.hits.map((hit) => h('li', { class: 'result', testid: 'search-result', dataset: { id: hit.id } },
        h('a', { href: artifactRoute(hit.id), class: 'result-title', text: hit.title }),
        h('div', { class: 'meta' }, kindBadge(hit.kind), h('code', { text: hit.convergence })),
        h('p', { class: 'snippet' }, snippetNodes(hit.snippet)))));
      const total = answer.estimated_total;
      summary.textContent = total
        ? `${state.offset + 1}–${state.offset + answer.hits.length} of ${total} (${answer.took_ms.toFixed(1)} ms)`
        : 'Nothing matches.';
      summary.dataset.total = String(total);
      prev.disabled = state.offset === 0;
      next.disabled = state.offset + answer.hits.length >= total;
      view.dataset.searched = String(mine);
    } catch (error) {
      if (mine !== sequence) return;
      summary.textContent = `Search failed: ${error.message}`;
      results.replaceChildren();
    }
  };

  input.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.q = input.value; state.offset = 0; run(); }, TYPING_MS);
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(typing);
    state.q = input.value;
    state.offset = 0;
    run();
  });
  prev.addEventListener('click', () => { state.offset = Math.max(0, state.offset - LIMIT); run(); });
  next.addEventListener('click', () => { state.offset += LIMIT; run(); });

  await run();
  input.focus();
  return () => clearTimeout(typing);
}
