// The convergences the caller may read (private ones appear only with a token for them).

import { get } from '../api.js';
import { h, convergenceRoute } from '../dom.js';

/** Renders the list, a page at a time ("More" follows the API's cursor). */
export async function renderConvergences(view) {
  document.title = 'Convergences · kgnode';
  const list = h('ul', { class: 'cards', 'aria-label': 'Convergences' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true, text: 'More' });
  view.append(
    h('h1', { text: 'Convergences' }),
    h('p', { class: 'muted', text: 'Community spaces and events on this node.' }),
    list,
    more,
  );

  let cursor = null;
  const load = async () => {
    const page = await get('/convergences', { limit: 50, cursor });
    for (const item of page.items) {
      list.append(h('li', { class: 'card' },
        h('a', { href: convergenceRoute(item.slug), testid: 'convergence-link', class: 'card-title' },
          item.name || item.slug),
        h('div', { class: 'meta' },
          h('code', { text: item.slug }),
          h('span', { class: `badge ${item.visibility}`, text: item.visibility }),
          item.origin ? h('span', { class: 'badge', text: 'mirror' }) : null),
        item.description ? h('p', { text: item.description }) : null));
    }
    if (!list.children.length) list.append(h('li', { class: 'muted', text: 'No convergence to show.' }));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  };
  more.addEventListener('click', () => load().catch((error) => { more.textContent = error.message; }));
  await load();
}
