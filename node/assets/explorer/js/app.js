// The explorer's entry point: a hash router. Routes live after `#` so that the node serves one
// page at `/` and none of the explorer's paths can shadow an API or ActivityPub path.
//
//   #/                       convergences the caller may read
//   #/c/{slug}               a convergence: counters, newest artifacts (live), contribute
//   #/search?q=&convergence=&kind=&dimension=&offset=
//   #/a/{id}                 an artifact
//   #/graph/{id}?depth=&direction=&limit=
//   #/overview/{slug}?top=   a convergence's most central artifacts and the edges among them
//   #/settings               sign in, or a service token

import { token } from './api.js';
import { replace, h, notify } from './dom.js';
import { renderConvergences } from './views/convergences.js';
import { renderConvergence } from './views/convergence.js';
import { renderSearch } from './views/search.js';
import { renderArtifact } from './views/artifact.js';
import { renderGraph } from './views/graph.js';
import { renderOverview } from './views/overview.js';
import { renderSettings } from './views/settings.js';

const ROUTES = [
  [/^\/?$/, () => renderConvergences],
  [/^\/c\/([^/]+)$/, () => renderConvergence],
  [/^\/search$/, () => renderSearch],
  [/^\/a\/([^/]+)$/, () => renderArtifact],
  [/^\/graph\/([^/]+)$/, () => renderGraph],
  [/^\/overview\/([^/]+)$/, () => renderOverview],
  [/^\/settings$/, () => renderSettings],
];

const view = document.getElementById('view');
let cleanup = null;
let generation = 0;

// Records Content-Security-Policy violations where tests (and people) can see them: the
// explorer's own code must never need an exception.
document.addEventListener('securitypolicyviolation', (event) => {
  const root = document.documentElement;
  root.dataset.cspViolations = String(Number(root.dataset.cspViolations || 0) + 1);
  root.dataset.cspLast = `${event.effectiveDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber} ${event.sample}`;
  console.warn('CSP violation', event.violatedDirective, event.blockedURI);
});

/** Splits the hash into a path and its query parameters. */
function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { path, params: new URLSearchParams(query) };
}

function showWho() {
  const secret = token();
  document.getElementById('who').textContent = !secret ? 'anonymous' : (secret.startsWith('kgs_') ? 'signed in' : 'token set');
}

async function route() {
  const current = ++generation;
  if (cleanup) {
    try {
      cleanup();
    } catch (error) {
      console.error(error);
    }
    cleanup = null;
  }
  notify(null);
  showWho();
  const { path, params } = parseHash();
  const match = ROUTES.find(([pattern]) => pattern.test(path));
  if (!match) {
    replace(view, h('h1', { text: 'Not found' }), h('p', {}, h('a', { href: '#/', text: 'Back to the convergences' })));
    return;
  }
  const captured = path.match(match[0]).slice(1).map(decodeURIComponent);
  const render = match[1]();
  view.replaceChildren();
  view.dataset.view = render.name.replace(/^render/, '').toLowerCase();
  view.removeAttribute('data-ready');
  try {
    const result = await render(view, { args: captured, params, isCurrent: () => current === generation });
    if (current !== generation) {
      if (typeof result === 'function') result();
      return;
    }
    cleanup = typeof result === 'function' ? result : null;
    view.dataset.ready = 'true';
  } catch (error) {
    if (current !== generation) return;
    console.error(error);
    notify(error.message || String(error));
    view.dataset.ready = 'error';
  }
  // Keyboard users land in the new page (unless the page focused a control itself).
  if (!view.contains(document.activeElement)) view.focus({ preventScroll: true });
}

window.addEventListener('hashchange', route);
window.addEventListener('kgnode-token', showWho);
route();
