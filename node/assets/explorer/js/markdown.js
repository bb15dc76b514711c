// Markdown bodies rendered to HTML and sanitized. This is the one place where markup derived
// from an artifact reaches the page, in two steps:
// 1. raw HTML written in a body is shown as text (the Markdown renderer escapes it), so a
//    `<script>` or `<img onerror>` in a body never becomes an element, not even in the inert
//    document a sanitizer parses (where Chrome already reports the handler to the CSP);
// 2. what Markdown itself produced goes through DOMPurify, which removes `javascript:` links
//    and anything else unsafe.

import { Marked } from '../vendor/marked/marked.esm.js';
import DOMPurify from '../vendor/dompurify/purify.es.mjs';

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const markdown = new Marked({
  gfm: true,
  async: false,
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
  },
});

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
  const html = markdown.parse(source || '');
  container.innerHTML = DOMPurify.sanitize(html, SANITIZE);
}
