// An artifact's page: title, kind, body (Markdown, sanitized), dimensions, relationships in both
// directions as links, the contribution it came from and its version. Kept current from its
// convergence's event stream: an edit or a new relationship shows without reload.

import { get } from '../api.js';
import { h, replace, artifactRoute, convergenceRoute, kindBadge, when } from '../dom.js';
import { renderMarkdown } from '../markdown.js';
import { subscribe } from '../live.js';

const RELATIONSHIPS = 200;

/** Renders the artifact `id`; returns the cleanup that closes its stream. */
export async function renderArtifact(view, { args: [id] }) {
  const artifact = await get(`/artifacts/${encodeURIComponent(id)}`);
  const title = h('h1', { testid: 'artifact-title' });
  const meta = h('p', { class: 'meta' });
  const body = h('div', { class: 'markdown', testid: 'artifact-body' });
  const dimensions = h('ul', { class: 'dimensions', 'aria-label': 'Dimensions' });
  const outgoing = h('ul', { class: 'items', 'aria-label': 'Outgoing relationships' });
  const incoming = h('ul', { class: 'items', 'aria-label': 'Incoming relationships' });
  const provenance = h('div', { class: 'provenance' });
  const graphLink = h('a', { href: `#/graph/${encodeURIComponent(id)}?depth=1&direction=both`, class: 'button', testid: 'graph-link', text: 'Graph view' });

  view.append(
    h('p', { class: 'crumbs' },
      h('a', { href: '#/', text: 'Convergences' }), ' / ',
      h('a', { href: convergenceRoute(artifact.convergence), text: artifact.convergence })),
    h('article', { class: 'artifact' }, title, meta, graphLink, body,
      h('h2', { text: 'Dimensions' }), dimensions),
    h('div', { class: 'columns two' },
      h('section', {}, h('h2', { text: 'Outgoing' }), outgoing),
      h('section', {}, h('h2', { text: 'Incoming' }), incoming)),
    h('section', {}, h('h2', { text: 'Provenance' }), provenance));

  const draw = (current) => {
    document.title = `${current.title} · kgnode`;
    title.textContent = current.title;
    replace(meta, kindBadge(current.kind), ' ',
      h('span', { testid: 'artifact-version', text: `version ${current.version}` }),
      current.author ? h('span', { text: ` · by ${current.author}` }) : null,
      h('span', { class: 'muted', text: ` · created ${when(current.created_at)} · updated ${when(current.updated_at)}` }));
    renderMarkdown(body, current.body);
    const dims = Object.entries(current.dimensions).sort((a, b) => b[1] - a[1]);
    replace(dimensions, dims.length ? dims.map(([name, weight]) => h('li', {},
      h('a', { href: `#/search?${new URLSearchParams({ q: '', convergence: current.convergence, dimension: name })}`, text: name }),
      h('meter', { min: 0, max: 1, value: weight, 'aria-label': `${name} weight` }),
      h('span', { class: 'small', text: weight.toFixed(2) }))) : h('li', { class: 'muted', text: 'none' }));
  };
  draw(artifact);
  await Promise.all([
    loadRelationships(id, outgoing, incoming),
    loadProvenance(artifact, provenance),
  ]);

  const stop = subscribe(artifact.convergence,
    ['artifact.updated', 'artifact.deleted', 'relationship.created', 'relationship.deleted'],
    (type, data) => {
      if (type === 'artifact.updated' && data.id === id && data.entity) draw(data.entity);
      else if (type === 'artifact.deleted' && data.id === id) title.append(' (deleted)');
      else if (touches(data, id, outgoing, incoming)) {
        loadRelationships(id, outgoing, incoming).catch(console.error);
      }
    });
  return stop;
}

/**
 * Whether a relationship event concerns this artifact: a new edge with it at one end, or the
 * deletion (which carries no entity) of an edge listed here. Other edges of the convergence
 * cause no reload.
 */
function touches(data, id, ...lists) {
  if (data.entity) return data.entity.source === id || data.entity.target === id;
  return lists.some((list) => list.querySelector(`[data-relationship="${CSS.escape(data.id)}"]`));
}

/** Lists the relationships with the titles of their other ends. */
async function loadRelationships(id, outgoing, incoming) {
  const page = await get(`/artifacts/${encodeURIComponent(id)}/relationships`, { direction: 'both', limit: RELATIONSHIPS });
  const others = [...new Set(page.items.map((r) => (r.source === id ? r.target : r.source)))];
  const titles = new Map();
  await Promise.all(others.map(async (other) => {
    try {
      const end = await get(`/artifacts/${other}`);
      titles.set(other, end);
    } catch {
      titles.set(other, null);
    }
  }));
  const entry = (relationship, other, arrow) => {
    const end = titles.get(other);
    return h('li', { class: 'item', dataset: { relationship: relationship.id } },
      h('span', { class: `rel rel-${relationship.kind}`, text: relationship.kind }), ` ${arrow} `,
      h('a', { href: artifactRoute(other), testid: 'relationship-link', dataset: { id: other, kind: relationship.kind } },
        end ? end.title : other),
      end ? [' ', kindBadge(end.kind)] : null,
      h('span', { class: 'muted small', text: ` weight ${relationship.weight}` }));
  };
  const out = page.items.filter((r) => r.source === id);
  const inc = page.items.filter((r) => r.target === id);
  replace(outgoing, out.length ? out.map((r) => entry(r, r.target, '→')) : h('li', { class: 'muted', text: 'none' }));
  replace(incoming, inc.length ? inc.map((r) => entry(r, r.source, '←')) : h('li', { class: 'muted', text: 'none' }));
  if (page.next_cursor) {
    outgoing.after(h('p', { class: 'muted small', text: `Showing the first ${RELATIONSHIPS} relationships.` }));
  }
}

/** Shows the contribution the artifact was extracted from, when it has one. */
async function loadProvenance(artifact, container) {
  if (!artifact.contribution) {
    replace(container, h('p', { class: 'muted', text: 'Written by hand (no contribution).' }));
    return;
  }
  try {
    const contribution = await get(`/contributions/${artifact.contribution}`);
    replace(container,
      h('p', { class: 'meta' },
        h('span', { text: `Extracted from contribution ` }),
        h('code', { testid: 'artifact-contribution', text: contribution.id }),
        contribution.author ? h('span', { text: ` by ${contribution.author}` }) : null,
        h('span', { class: 'muted', text: ` · ${when(contribution.created_at)}` })),
      h('blockquote', { class: 'contribution-text', text: contribution.text }));
  } catch (error) {
    replace(container, h('p', { class: 'muted' }, 'From contribution ',
      h('code', { testid: 'artifact-contribution', text: artifact.contribution }), ` (${error.message})`));
  }
}
