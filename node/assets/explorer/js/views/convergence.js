// A convergence's page: its dimension counters as a bar chart, its newest artifacts kept up to
// date from the event stream, a search box scoped to it and the contribute form.

import { get } from '../api.js';
import { h, replace, artifactRoute, kindBadge, when, field } from '../dom.js';
import { subscribe } from '../live.js';
import { contributeForm } from './contribute.js';

const NEWEST = 20;
// The API lists artifacts oldest first; the newest are found by paging to the end, at most
// this many pages of 500 (the page says when it stopped early).
const MAX_PAGES = 10;
const STREAM_TYPES = [
  'artifact.created', 'artifact.updated', 'artifact.deleted',
  'contribution.created', 'contribution.updated',
];

/** Renders the convergence `slug`; returns the cleanup that closes its stream. */
export async function renderConvergence(view, { args: [slug] }) {
  const convergence = await get(`/convergences/${encodeURIComponent(slug)}`);
  document.title = `${convergence.name} · kgnode`;

  const chart = h('ol', { class: 'bars', 'aria-label': 'Artifacts per dimension' });
  const newest = h('ol', { class: 'items', 'aria-label': 'Newest artifacts', 'aria-live': 'polite' });
  const newestNote = h('p', { class: 'muted' });
  const streamState = h('span', { class: 'stream', testid: 'stream-state', text: 'connecting' });
  const query = h('input', { type: 'search', name: 'q', placeholder: 'garden OR "rain barrel"', testid: 'search-input' });
  const searchForm = h('form', { class: 'inline', role: 'search' },
    field(`Search ${convergence.name}`, query),
    h('button', { type: 'submit', text: 'Search' }));
  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ q: query.value, convergence: slug });
    location.hash = `#/search?${params}`;
  });
  const contribute = contributeForm(slug, convergence);

  view.append(
    h('header', { class: 'page-head' },
      h('p', { class: 'crumbs' }, h('a', { href: '#/', text: 'Convergences' }), ' / ', h('code', { text: slug })),
      h('h1', { text: convergence.name }),
      convergence.description ? h('p', { text: convergence.description }) : null,
      h('p', { class: 'meta' },
        h('span', { class: `badge ${convergence.visibility}`, text: convergence.visibility }),
        convergence.origin ? h('span', { class: 'badge', text: `mirror of ${convergence.origin}` }) : null,
        h('span', { text: 'live: ' }), streamState),
      h('p', {}, h('a', { href: `#/overview/${encodeURIComponent(slug)}`, testid: 'overview-link',
        text: 'Overview: the most central artifacts and their relationships' }))),
    searchForm,
    h('div', { class: 'columns' },
      h('section', { 'aria-labelledby': 'newest-h' },
        h('h2', { id: 'newest-h', text: 'Newest artifacts' }), newest, newestNote),
      h('section', { 'aria-labelledby': 'dims-h' },
        h('h2', { id: 'dims-h', text: 'Dimensions' }), chart),
      contribute.element));

  const shown = new Map();
  const itemFor = (artifact, source) => h('li', {
    class: 'item', testid: 'live-item', dataset: { id: artifact.id, source },
  },
  h('a', { href: artifactRoute(artifact.id), text: artifact.title }),
  ' ', kindBadge(artifact.kind),
  h('span', { class: 'muted small', text: ` ${when(artifact.created_at)}` }));

  const show = (artifact, source) => {
    const existing = shown.get(artifact.id);
    const item = itemFor(artifact, source);
    if (existing) existing.replaceWith(item);
    else newest.prepend(item);
    shown.set(artifact.id, item);
    while (newest.children.length > NEWEST) {
      const last = newest.lastElementChild;
      shown.delete(last.dataset.id);
      last.remove();
    }
  };

  let chartTimer = null;
  const refreshChart = () => {
    clearTimeout(chartTimer);
    chartTimer = setTimeout(() => loadChart(slug, chart).catch(console.error), 250);
  };

  // Subscribe first, then read: what is written in between arrives on the stream, and the
  // map above keeps an artifact from being listed twice.
  const unsubscribe = subscribe(slug, STREAM_TYPES, (type, data) => {
    if (type === 'artifact.created' || type === 'artifact.updated') {
      if (data.entity) show(data.entity, 'stream');
      refreshChart();
    } else if (type === 'artifact.deleted') {
      const item = shown.get(data.id);
      if (item) {
        item.classList.add('deleted');
        item.append(h('span', { class: 'badge', text: 'deleted' }));
      }
      refreshChart();
    } else {
      contribute.onEvent(type, data);
    }
  }, (state) => {
    streamState.textContent = state;
    streamState.dataset.state = state;
  });

  try {
    await Promise.all([loadNewest(slug, show, newestNote), loadChart(slug, chart)]);
  } catch (error) {
    unsubscribe();
    throw error;
  }
  return () => {
    clearTimeout(chartTimer);
    unsubscribe();
    contribute.stop();
  };
}

/** Pages through the artifacts (oldest first) and shows the last ones, newest on top. */
async function loadNewest(slug, show, note) {
  let cursor = null;
  let last = [];
  let pages = 0;
  do {
    const page = await get(`/convergences/${encodeURIComponent(slug)}/artifacts`, { limit: 500, cursor });
    last = last.concat(page.items).slice(-NEWEST);
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor && pages < MAX_PAGES);
  for (const artifact of last) show(artifact, 'list');
  note.textContent = cursor
    ? `Newest of the first ${pages * 500} artifacts; new ones appear here as they arrive.`
    : last.length ? '' : 'No artifact yet: new ones appear here as they arrive.';
}

/** Draws the dimension counters (most used first) as horizontal bars. */
async function loadChart(slug, chart) {
  const page = await get(`/convergences/${encodeURIComponent(slug)}/dimensions`, { limit: 20 });
  const max = Math.max(1, ...page.items.map((item) => item.artifact_count));
  const rows = page.items.map((item) => {
    const bar = h('span', { class: 'bar' });
    // CSSOM, not a style attribute: allowed by the Content-Security-Policy.
    bar.style.width = `${(100 * item.artifact_count) / max}%`;
    const search = new URLSearchParams({ q: '', convergence: slug, dimension: item.dimension });
    return h('li', { testid: 'dimension-bar', dataset: { dimension: item.dimension, count: item.artifact_count } },
      h('a', { href: `#/search?${search}`, class: 'bar-label', text: item.dimension }),
      h('span', { class: 'bar-track', 'aria-hidden': 'true' }, bar),
      h('span', { class: 'bar-count', text: String(item.artifact_count),
        'aria-label': `${item.artifact_count} artifacts, mean weight ${item.mean_weight.toFixed(2)}` }));
  });
  replace(chart, rows.length ? rows : h('li', { class: 'muted', text: 'No dimension yet.' }));
}
