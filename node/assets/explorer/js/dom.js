// Building DOM nodes from data. Text always goes in as text nodes (never parsed as HTML), so an
// artifact titled `<img src=x onerror=alert(1)>` shows those characters and nothing else.

/**
 * Creates an element. `attrs` keys: `class`, `testid` (data-testid), `text` (textContent),
 * `on<event>` (listeners), `dataset` (an object), anything else as an attribute.
 * Children may be nodes, strings (as text), arrays, or null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') element.className = value;
    else if (key === 'testid') element.dataset.testid = value;
    else if (key === 'text') element.textContent = String(value);
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2), value);
    } else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

/** Appends children (nodes, strings as text, nested arrays; null/false skipped). */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces every child of `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** A link to an explorer route (`#/...`). `route` parts are URL-encoded. */
export function link(route, text, attrs = {}) {
  return h('a', { href: route, ...attrs }, text);
}

/** `#/a/{id}`: an artifact's page. */
export function artifactRoute(id) {
  return `#/a/${encodeURIComponent(id)}`;
}

/** `#/c/{slug}`: a convergence's page. */
export function convergenceRoute(slug) {
  return `#/c/${encodeURIComponent(slug)}`;
}

/** A short, readable date and time. */
export function when(timestamp) {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleString();
}

/** A kind badge, coloured by kind through a class (see style.css). */
export function kindBadge(kind) {
  return h('span', { class: `kind kind-${kind}`, text: kind });
}

/** A labelled form field: `<label>` then the control, linked by id. */
export function field(labelText, control) {
  if (!control.id) control.id = `f-${Math.random().toString(36).slice(2, 9)}`;
  return h('div', { class: 'field' }, h('label', { for: control.id, text: labelText }), control);
}

/** Shows a message (or clears it with null) in the page's alert region. */
export function notify(message) {
  const notice = document.getElementById('notice');
  notice.hidden = !message;
  notice.textContent = message || '';
}
