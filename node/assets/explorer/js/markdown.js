// Markdown bodies rendered to HTML and sanitized. This is the one place where markup from an
// artifact reaches the page, and only after DOMPurify has removed scripts, event handlers,
// style attributes and javascript: URLs.

import { marked } from '../vendor/marked/marked.esm.js';
import DOMPurify from '../vendor/dompurify/purify.es.mjs';

const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select'],
  FORBID_ATTR: ['style'],
};

// Links from bodies leave without a referrer and cannot reach back into the explorer's window.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

/** Fills `container` with the rendered, sanitized Markdown of `source`. */
export function renderMarkdown(container, source) {
  const html = marked.parse(source || '', { async: false, gfm: true });
  container.innerHTML = DOMPurify.sanitize(html, SANITIZE);
}
