// Search snippets arrive HTML-escaped with matches in <b>…</b>. Instead of handing that string
// to innerHTML, it is split at the <b> markers and each piece unescaped into a text node: only
// the node's own <b> markers become elements.

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#x27;': "'", '&#39;': "'" };

function unescape(text) {
  return text.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (entity) => ENTITIES[entity]);
}

/** The snippet as nodes: text, with `<mark>` for each highlighted match. */
export function snippetNodes(snippet) {
  const nodes = [];
  const parts = String(snippet || '').split(/(<b>|<\/b>)/);
  let bold = false;
  for (const part of parts) {
    if (part === '<b>') bold = true;
    else if (part === '</b>') bold = false;
    else if (part) {
      const text = document.createTextNode(unescape(part));
      if (bold) {
        const mark = document.createElement('mark');
        mark.append(text);
        nodes.push(mark);
      } else nodes.push(text);
    }
  }
  return nodes;
}
