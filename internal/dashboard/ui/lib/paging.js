// Cursor paging over a list endpoint of the API ({data, meta: {count,
// next_cursor}}): Previous/Next buttons that keep the cursors seen.

import { h, fill } from './dom.js';

/**
 * pager returns {el, load, reset}: el holds the buttons; load(fetchPage)
 * fetches the current page with fetchPage(cursor) and returns its data;
 * reset goes back to the first page. A button moves to its page and calls
 * reload, which loads and shows it (the page's own load, which calls
 * load(fetchPage) again).
 */
export function pager(reload) {
  const el = h('div.pager');
  const cursors = [''];
  let pageNo = 0;
  let last = null;
  async function load(fetchPage) {
    last = fetchPage;
    const page = await fetchPage(cursors[pageNo]);
    cursors[pageNo + 1] = page.meta.next_cursor || null;
    fill(el,
      h('button', { type: 'button', disabled: pageNo === 0, onclick: () => { pageNo--; move(); } }, '← Previous'),
      h('span.muted', `page ${pageNo + 1} · ${page.meta.count} shown`),
      h('button', { type: 'button', disabled: !page.meta.next_cursor, onclick: () => { pageNo++; move(); } }, 'Next →'));
    return page.data;
  }
  function move() {
    Promise.resolve(reload ? reload() : load(last)).catch(() => { /* the page shows its own errors */ });
  }
  return { el, load, reset: () => { pageNo = 0; cursors.length = 1; } };
}
