// A convergence's overview: its top artifacts by PageRank (the graph's centrality endpoint)
// and the relationships among them (the subgraph endpoint), drawn with cytoscape; a node's
// size follows its score. Like the neighbourhood view, `data-node-count`/`data-edge-count`
// equal what is drawn.

import cytoscape from '../../vendor/cytoscape/cytoscape.esm.min.mjs';
import { get } from '../api.js';
import { h, field, artifactRoute, convergenceRoute, kindBadge } from '../dom.js';
import { KIND_COLOURS, graphStyle, label } from './graph.js';

const TOP_DEFAULT = 50;
const TOP_MAX = 500;

/** Renders the top `top` artifacts of convergence `slug` and the edges among them. */
export async function renderOverview(view, { args: [slug], params }) {
  const top = Math.min(TOP_MAX, Math.max(1, Number(params.get('top')) || TOP_DEFAULT));
  document.title = `Overview of ${slug} · kgnode`;
  const count = h('input', { type: 'number', name: 'top', min: 1, max: TOP_MAX, value: top });
  const form = h('form', { class: 'graph-controls' }, field('Top artifacts', count),
    h('button', { type: 'submit', text: 'Draw' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/overview/${encodeURIComponent(slug)}?top=${encodeURIComponent(count.value)}`;
  });
  const canvas = h('div', { class: 'graph', testid: 'graph-view', role: 'img',
    'aria-label': `The ${top} most central artifacts of ${slug}` });
  const status = h('p', { class: 'muted', role: 'status', testid: 'graph-status' });
  const ranking = h('ol', { class: 'items' });
  view.append(
    h('p', { class: 'crumbs' }, h('a', { href: convergenceRoute(slug), text: slug }), ' / overview'),
    h('h1', { text: 'Most central artifacts' }), form, status, canvas,
    h('ul', { class: 'legend', 'aria-label': 'Colours' }, Object.keys(KIND_COLOURS).map((kind) => h('li', {}, kindBadge(kind)))),
    h('details', {}, h('summary', { text: 'The ranking (PageRank)' }), ranking));

  const ranked = await get('/graph/centrality', { convergence: slug, algorithm: 'pagerank', top });
  const scores = new Map(ranked.top.map((entry) => [entry.id, entry.score]));
  const sub = ranked.top.length
    ? await get('/graph/subgraph', { ids: ranked.top.map((entry) => entry.id).join(',') })
    : { nodes: [], edges: [] };
  const best = Math.max(...scores.values(), Number.MIN_VALUE);
  const cy = cytoscape({
    container: canvas,
    elements: [
      ...sub.nodes.map((node) => ({ group: 'nodes', data: {
        id: node.id, label: label(node.title), kind: node.kind,
        size: 14 + 30 * Math.sqrt((scores.get(node.id) || 0) / best),
      } })),
      ...sub.edges.map((edge) => ({ group: 'edges', data: {
        id: edge.id, source: edge.source, target: edge.target, label: edge.kind,
      } })),
    ],
    style: [...graphStyle(), { selector: 'node[size]', style: { width: 'data(size)', height: 'data(size)' } }],
    layout: { name: 'cose', animate: false, randomize: true, nodeRepulsion: () => 400000, idealEdgeLength: () => 90, padding: 30 },
    wheelSensitivity: 0.3,
    minZoom: 0.05,
    maxZoom: 4,
  });
  cy.on('tap', 'node', (event) => { location.hash = artifactRoute(event.target.id()); });
  for (const node of sub.nodes) {
    ranking.append(h('li', { class: 'item' },
      h('a', { href: artifactRoute(node.id), testid: 'graph-node-link', text: node.title }), ' ',
      kindBadge(node.kind), ` ${(scores.get(node.id) || 0).toFixed(4)}`));
  }
  canvas.dataset.nodeCount = String(cy.nodes().length);
  canvas.dataset.edgeCount = String(cy.edges().length);
  status.textContent = `${cy.nodes().length} of ${ranked.artifacts} artifacts, ${cy.edges().length} relationships among them · click a node to open it`;
  canvas.dataset.ready = 'true';
  return () => cy.destroy();
}
