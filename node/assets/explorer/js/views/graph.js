// The graph view: an artifact's neighbourhood drawn with cytoscape (vendored). Nodes are
// coloured by artifact kind, edges labelled by relationship kind; clicking a node opens it, and
// "expand" adds a node's own neighbours in place. `data-node-count`/`data-edge-count` on the
// drawing always equal what cytoscape holds, and the page says when the API's `limit` cut the
// answer short.

import cytoscape from '../../vendor/cytoscape/cytoscape.esm.min.mjs';
import { get } from '../api.js';
import { h, replace, field, artifactRoute, kindBadge } from '../dom.js';

export const KIND_COLOURS = {
  idea: '#2f6fdf', question: '#c2410c', proposal: '#15803d', resource: '#7c3aed',
  insight: '#0e7490', decision: '#b91c1c', claim: '#a16207', evidence: '#475569',
};
const RELATIONSHIP_KINDS = ['supports', 'contradicts', 'extends', 'depends_on', 'relates_to',
  'part_of', 'derived_from', 'answers'];
// Beyond this many nodes the force layout is too slow for a page: rings by depth instead.
const FORCE_LAYOUT_MAX = 150;

export function label(title) {
  return title.length > 40 ? `${title.slice(0, 39)}…` : title;
}

/** Renders the neighbourhood of `id` for the hash's depth, direction, kinds and limit. */
export async function renderGraph(view, { args: [id], params }) {
  const options = {
    depth: Math.min(3, Math.max(1, Number(params.get('depth')) || 1)),
    direction: ['in', 'out', 'both'].includes(params.get('direction')) ? params.get('direction') : 'both',
    kinds: (params.get('kinds') || '').split(',').filter((k) => RELATIONSHIP_KINDS.includes(k)),
    limit: Math.min(10000, Math.max(1, Number(params.get('limit')) || 200)),
  };

  const depth = h('select', { name: 'depth' }, [1, 2, 3].map((d) =>
    h('option', { value: d, selected: d === options.depth, text: String(d) })));
  const direction = h('select', { name: 'direction' }, [['both', 'both'], ['out', 'outgoing'], ['in', 'incoming']].map(([value, text]) =>
    h('option', { value, selected: value === options.direction, text })));
  const limit = h('input', { type: 'number', name: 'limit', min: 1, max: 10000, value: options.limit });
  const kinds = h('fieldset', { class: 'kinds' }, h('legend', { text: 'Relationship kinds (none: all)' }),
    RELATIONSHIP_KINDS.map((kind) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', value: kind, checked: options.kinds.includes(kind) }), ` ${kind}`)));
  const form = h('form', { class: 'graph-controls' }, field('Depth', depth), field('Direction', direction),
    field('Most artifacts', limit), kinds, h('button', { type: 'submit', text: 'Draw' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams({ depth: depth.value, direction: direction.value, limit: limit.value });
    const chosen = [...kinds.querySelectorAll('input:checked')].map((input) => input.value);
    if (chosen.length) query.set('kinds', chosen.join(','));
    location.hash = `#/graph/${encodeURIComponent(id)}?${query}`;
  });

  const canvas = h('div', { class: 'graph', testid: 'graph-view', role: 'img', 'aria-label': 'Neighbourhood graph' });
  const status = h('p', { class: 'muted', role: 'status', testid: 'graph-status' });
  const truncated = h('p', { class: 'warning', testid: 'graph-truncated', hidden: true });
  const nodeList = h('ul', { class: 'items' });
  const legend = h('ul', { class: 'legend', 'aria-label': 'Colours' }, Object.keys(KIND_COLOURS).map((kind) => h('li', {}, kindBadge(kind))));
  view.append(
    h('p', { class: 'crumbs' }, h('a', { href: artifactRoute(id), text: 'Back to the artifact' })),
    h('h1', { text: 'Neighbourhood' }), form, truncated, status, canvas, legend,
    h('details', {}, h('summary', { text: 'Artifacts in this view (keyboard: open or expand)' }), nodeList));

  const answer = await get(`/graph/neighborhood/${encodeURIComponent(id)}`, {
    depth: options.depth, direction: options.direction, kinds: options.kinds.join(','), limit: options.limit,
  });
  const cy = cytoscape({
    container: canvas,
    elements: [],
    style: graphStyle(),
    wheelSensitivity: 0.3,
    minZoom: 0.05,
    maxZoom: 4,
  });

  let wasTruncated = false;
  const counts = () => {
    canvas.dataset.nodeCount = String(cy.nodes().length);
    canvas.dataset.edgeCount = String(cy.edges().length);
    status.textContent = `${cy.nodes().length} artifacts, ${cy.edges().length} relationships · click a node to open it, right-click to expand it`;
    truncated.hidden = !wasTruncated;
    truncated.textContent = wasTruncated
      ? `Truncated: the answer was cut at the limit (${options.limit} artifacts). Raise "Most artifacts" or lower the depth to see more.`
      : '';
  };

  const add = (result) => {
    wasTruncated = wasTruncated || result.truncated;
    const fresh = [];
    for (const node of result.nodes) {
      if (cy.getElementById(node.id).nonempty()) continue;
      fresh.push({ group: 'nodes', data: { id: node.id, label: label(node.title), title: node.title, kind: node.kind, depth: node.depth ?? 0 } });
    }
    for (const edge of result.edges) {
      if (cy.getElementById(edge.id).nonempty()) continue;
      fresh.push({ group: 'edges', data: { id: edge.id, source: edge.source, target: edge.target, label: edge.kind, kind: edge.kind } });
    }
    cy.add(fresh);
    for (const node of result.nodes) {
      if (nodeList.querySelector(`[data-id="${CSS.escape(node.id)}"]`)) continue;
      nodeList.append(h('li', { class: 'item', dataset: { id: node.id } },
        h('a', { href: artifactRoute(node.id), testid: 'graph-node-link', text: node.title }), ' ', kindBadge(node.kind), ' ',
        h('button', { type: 'button', class: 'link', text: 'expand', onclick: () => expand(node.id) })));
    }
    const layout = cy.nodes().length <= FORCE_LAYOUT_MAX
      ? { name: 'cose', animate: false, randomize: true, nodeRepulsion: () => 400000, idealEdgeLength: () => 80, nodeOverlap: 20, padding: 30 }
      : { name: 'concentric', concentric: (n) => 10 - n.data('depth'), levelWidth: () => 1, animate: false, minNodeSpacing: 4 };
    cy.layout(layout).run();
    cy.getElementById(id).addClass('centre');
    counts();
  };

  const expand = async (nodeId) => {
    const more = await get(`/graph/neighborhood/${encodeURIComponent(nodeId)}`, {
      depth: 1, direction: options.direction, kinds: options.kinds.join(','), limit: options.limit,
    });
    add(more);
  };

  cy.on('tap', 'node', (event) => { location.hash = artifactRoute(event.target.id()); });
  cy.on('cxttap', 'node', (event) => { expand(event.target.id()).catch(console.error); });
  add(answer);
  canvas.dataset.ready = 'true';
  // For timings (kgnode-bench explorer): when the first drawing was done.
  performance.mark('kgnode:graph-drawn');
  return () => cy.destroy();
}

export function graphStyle() {
  return [
    { selector: 'node', style: {
      'background-color': '#64748b', label: 'data(label)', 'font-size': 10, color: '#111827',
      'text-valign': 'bottom', 'text-margin-y': 4, width: 18, height: 18,
      'text-background-color': '#ffffff', 'text-background-opacity': 0.8, 'min-zoomed-font-size': 6,
    } },
    ...Object.entries(KIND_COLOURS).map(([kind, colour]) => ({ selector: `node[kind = "${kind}"]`, style: { 'background-color': colour } })),
    { selector: 'node.centre', style: { width: 28, height: 28, 'border-width': 3, 'border-color': '#111827' } },
    { selector: 'edge', style: {
      width: 1.5, 'line-color': '#94a3b8', 'target-arrow-color': '#94a3b8', 'target-arrow-shape': 'triangle',
      'curve-style': 'bezier', label: 'data(label)', 'font-size': 8, color: '#334155',
      'text-rotation': 'autorotate', 'min-zoomed-font-size': 7,
    } },
  ];
}
