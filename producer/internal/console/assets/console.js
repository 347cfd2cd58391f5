// Hookline console: plain JavaScript, no dependencies, no build step.
//
// Every page reads the producer's JSON API (/v1/...) with the admin key the
// user signed in with. The key lives in this tab's sessionStorage only: it
// goes when the tab closes or the user signs out, and it is sent only to
// this origin, as the API's Authorization header. Pages are built with DOM
// calls and textContent, never by parsing HTML, so no value from the API
// is ever interpreted as markup.
'use strict';

(() => {
  const KEY = 'hookline.console.key';
  const SVG = 'http://www.w3.org/2000/svg';
  const main = document.getElementById('main');
  const nav = document.getElementById('nav');
  const live = document.getElementById('live');

  // ---- DOM helpers -------------------------------------------------------

  // h builds an element: attrs are attributes, except on* (listeners),
  // class, and properties given as {prop: {...}}; children are nodes,
  // strings (text), arrays, or null/false (skipped).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }
  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'prop') Object.assign(el, v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }
  function clear(el) { while (el.firstChild) el.firstChild.remove(); }
  function announce(msg) {
    live.textContent = '';
    // A fresh text node is announced even when it repeats the last one.
    setTimeout(() => { live.textContent = msg; }, 30);
  }
  function errorBox(err, what) {
    return h('div', { class: 'error', role: 'alert' }, what ? what + ': ' : '', describeError(err));
  }
  function describeError(err) {
    if (!(err instanceof APIError)) return String(err && err.message || err);
    let msg = err.message;
    if (err.details && err.details.length) {
      msg += ' (' + err.details.map((d) => (d.field ? d.field + ': ' : '') + d.message).join('; ') + ')';
    }
    return msg + (err.status ? ' [HTTP ' + err.status + ', ' + err.code + ']' : '');
  }

  // ---- formatting --------------------------------------------------------

  const pad = (n) => String(n).padStart(2, '0');
  function fmtTime(iso) {
    if (!iso || iso.startsWith('0001-')) return '—';
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function time(iso) {
    return h('time', { datetime: iso, title: iso }, fmtTime(iso));
  }
  function ago(iso) {
    const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (isNaN(s)) return '';
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }
  function pct(x) { return (x * 100).toFixed(x === 1 || x === 0 ? 0 : 1) + ' %'; }
  function ms(x) { return x === undefined || x === null ? '—' : (x < 10 ? x.toFixed(1) : Math.round(x)) + ' ms'; }
  function badge(text, cls) { return h('span', { class: 'badge ' + (cls || text) }, text); }
  // redactURL hides what a URL may carry in secret: user info and query.
  function redactURL(raw) {
    try {
      const u = new URL(raw);
      u.username = ''; u.password = '';
      if (u.search) u.search = '?redacted';
      return u.toString();
    } catch (e) {
      return 'invalid URL';
    }
  }
  function subLink(id) {
    return id ? h('a', { href: '#/subscriptions/' + encodeURIComponent(id) }, id) : h('span', { class: 'muted' }, '—');
  }
  function eventLink(id) {
    return id ? h('a', { href: '#/events/' + encodeURIComponent(id), class: 'mono' }, id) : '—';
  }
  function table(caption, headers, rows, opts) {
    opts = opts || {};
    return h('div', { class: 'wrap' }, h('table', { id: opts.id },
      h('caption', { class: opts.hideCaption ? 'visually-hidden' : null }, caption),
      h('thead', null, h('tr', null, headers.map((x) => {
        const [text, cls] = Array.isArray(x) ? x : [x];
        return h('th', { scope: 'col', class: cls }, text);
      }))),
      h('tbody', null, rows)));
  }

  // ---- the API -----------------------------------------------------------

  class APIError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details;
    }
  }

  // api calls the JSON API and returns {data, etag}. A 401 signs out,
  // unless the call tries a key (signing in) rather than the session's.
  async function api(method, path, body, headers, tryKey) {
    const init = { method, headers: Object.assign({ Accept: 'application/json' }, headers || {}), cache: 'no-store', credentials: 'omit' };
    const key = tryKey || sessionStorage.getItem(KEY);
    if (key) init.headers.Authorization = 'Bearer ' + key;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, 'network', 'the API did not answer (' + e.message + ')');
    }
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!resp.ok) {
      const e = (data && data.error) || {};
      const err = new APIError(resp.status, e.code || 'http_' + resp.status, e.message || resp.statusText || 'request failed', e.details);
      if (resp.status === 401 && key && !tryKey) signOut('The API no longer accepts this key; sign in again.');
      throw err;
    }
    return { data, etag: resp.headers.get('ETag') };
  }
  const get = async (path) => (await api('GET', path)).data;
  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const s = q.toString();
    return s ? '?' + s : '';
  }
  async function allSubscriptions() {
    const out = [];
    let after = '';
    for (let page = 0; page < 20; page++) {
      const d = await get('/v1/subscriptions' + query({ limit: 1000, after }));
      out.push(...(d.subscriptions || []));
      if (!d.next_after) break;
      after = d.next_after;
    }
    return out;
  }

  // ---- the confirmation dialog -------------------------------------------

  // dialog shows a modal dialog and resolves to true when the user
  // confirms. body is a node or a function(dialog) that fills it (it may
  // call dialog.setConfirmable(bool)). Escape and Cancel resolve to false.
  function dialog({ title, body, confirm, danger, cancel = 'Cancel', id }) {
    return new Promise((resolve) => {
      const titleId = 'dlg-title-' + Math.random().toString(36).slice(2);
      const ok = confirm ? h('button', { type: 'submit', value: 'confirm', id: 'dialog-confirm', class: danger ? 'danger' : null }, confirm) : null;
      const content = h('div', { class: 'dialog-body' });
      const dlg = h('dialog', { 'aria-labelledby': titleId, id: id || null, 'aria-modal': 'true' },
        h('form', { method: 'dialog' },
          h('h2', { id: titleId }, title),
          content,
          h('div', { class: 'buttons' },
            h('button', { type: 'submit', value: 'cancel', class: 'quiet', id: 'dialog-cancel' }, confirm ? cancel : 'Close'),
            ok)));
      dlg.setConfirmable = (yes) => { if (ok) ok.disabled = !yes; };
      dlg.content = content;
      if (typeof body === 'function') body(dlg); else append(content, [body]);
      dlg.addEventListener('close', () => {
        const yes = dlg.returnValue === 'confirm';
        dlg.remove();
        resolve(yes);
      });
      document.body.append(dlg);
      dlg.showModal();
      const first = content.querySelector('input, select, textarea');
      (first || dlg.querySelector('#dialog-cancel')).focus();
    });
  }

  // ---- sign-in -----------------------------------------------------------

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    renderLogin(message);
  }

  function renderLogin(message) {
    nav.hidden = true;
    document.title = 'Sign in · Hookline console';
    clear(main);
    const err = h('div', { id: 'login-error', role: 'alert' });
    if (message) append(err, [h('p', { class: 'error' }, message)]);
    const input = h('input', { type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'api-key-hint' });
    const form = h('form', { id: 'login', class: 'login panel', onsubmit: async (ev) => {
      ev.preventDefault();
      const key = input.value.trim();
      clear(err);
      if (!key) return;
      try {
        // An admin route: an ingest-only key is refused with 403.
        await api('GET', '/v1/subscriptions?limit=1', undefined, undefined, key);
      } catch (e) {
        const msg = e.status === 401 ? 'This key is not accepted by the API.'
          : e.status === 403 ? 'This key may only ingest events; the console needs an admin key (--api-keys).'
            : 'Signing in failed: ' + describeError(e);
        append(err, [h('p', { class: 'error' }, msg)]);
        input.focus();
        return;
      }
      sessionStorage.setItem(KEY, key);
      input.value = '';
      announce('Signed in.');
      if (!location.hash || location.hash === '#' || location.hash === '#/login') location.hash = '#/overview';
      else render(true);
    } },
    h('h1', { tabindex: '-1' }, 'Sign in'),
    h('p', { class: 'lead' }, 'The Hookline console reads and changes the pipeline through its JSON API, with an admin API key.'),
    h('div', { class: 'field' },
      h('label', { for: 'api-key' }, 'Admin API key'),
      input,
      h('p', { class: 'hint', id: 'api-key-hint' }, 'A key of the producer\'s --api-keys; hookctl dev prints one as "admin key". ' +
        'It is kept in this browser tab only (session storage) and sent only to this server.')),
    err,
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'sign-in' }, 'Sign in')));
    main.append(form);
    input.focus();
  }

  // ---- routing -----------------------------------------------------------

  const pages = [
    [/^\/?$/, 'overview', () => overview],
    [/^\/overview$/, 'overview', () => overview],
    [/^\/subscriptions$/, 'subscriptions', () => subscriptions],
    [/^\/subscriptions\/(.+)$/, 'subscriptions', () => subscription],
    [/^\/events(?:\/(.*))?$/, 'events', () => eventLookup],
    [/^\/dead-letters$/, 'dead-letters', () => deadLetters],
    [/^\/event-types$/, 'event-types', () => eventTypes],
  ];
  let generation = 0;

  // go shows the page of hash: a new fragment navigates; the same one (a
  // form submitted twice) loads the page again.
  function go(hash) {
    if (location.hash === hash) render(true);
    else location.hash = hash;
  }

  // render shows the page of the URL fragment; focus moves to its heading
  // when the user navigated (not on the first load).
  async function render(moveFocus) {
    if (!sessionStorage.getItem(KEY)) {
      renderLogin();
      return;
    }
    nav.hidden = false;
    const raw = location.hash.replace(/^#/, '');
    const [path, qs] = raw.split('?');
    const params = new URLSearchParams(qs || '');
    let found = null;
    for (const [re, name, fn] of pages) {
      const m = path.match(re);
      if (m) { found = { name, fn: fn(), arg: m[1] ? decodeURIComponent(m[1]) : '' }; break; }
    }
    for (const a of nav.querySelectorAll('a[data-page]')) {
      if (found && a.dataset.page === found.name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    const gen = ++generation;
    clear(main);
    if (!found) {
      main.append(h('h1', { tabindex: '-1' }, 'Not found'), h('p', null, 'No console page at ' + raw + '. ', h('a', { href: '#/overview' }, 'Go to the overview.')));
      return;
    }
    main.setAttribute('aria-busy', 'true');
    const page = {
      // stale is true once the user went elsewhere: drop late answers.
      get stale() { return gen !== generation; },
      arg: found.arg,
      params,
      heading(text, ...rest) {
        document.title = text + ' · Hookline console';
        const el = h('h1', { tabindex: '-1', id: 'page-title' }, text, rest);
        main.append(el);
        if (moveFocus) el.focus();
        return el;
      },
    };
    try {
      await found.fn(page);
    } catch (e) {
      if (!page.stale) main.append(errorBox(e, 'This page could not be loaded'));
    } finally {
      if (!page.stale) main.removeAttribute('aria-busy');
    }
  }

  // section adds a section with a heading whose body loads by itself, so
  // a slow or failing part of a page does not hold up the rest.
  function section(title, id, load) {
    const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
    const el = h('section', { 'aria-labelledby': id + '-title', id }, h('h2', { id: id + '-title' }, title), body);
    main.append(el);
    const done = (async () => {
      try {
        const nodes = await load();
        clear(body);
        append(body, [nodes]);
      } catch (e) {
        clear(body);
        body.append(errorBox(e));
      } finally {
        body.removeAttribute('aria-busy');
      }
    })();
    el.done = done;
    return el;
  }

  // ---- Overview ----------------------------------------------------------

  async function overview(page) {
    page.heading('Overview');
    main.append(h('p', { class: 'lead' }, 'What the pipeline did in the last hour, how far its consumers are behind, and what waits in the dead-letter topic.'),
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'quiet', id: 'refresh', onclick: () => render(false) }, 'Refresh')));
    const secs = [
      section('Deliveries per minute', 'deliveries', async () => {
        const st = await get('/v1/attempts/stats?since=60m&bucket=1m');
        return deliveryChart(st);
      }),
      section('Consumer group lag', 'lag', async () => {
        const d = await get('/v1/consumer-groups');
        const groups = d.groups || [];
        if (!groups.length) return h('p', null, 'No consumer group has committed offsets of Hookline\'s topics yet.');
        return table('Records each consumer group has yet to process', ['Group', 'State', ['Members', 'num'], ['Lag', 'num'], 'Topics'],
          groups.map((g) => h('tr', null,
            h('td', { class: 'mono' }, g.group),
            h('td', null, g.state, g.error ? h('span', { class: 'muted' }, ' (' + g.error + ')') : null),
            h('td', { class: 'num' }, g.members),
            h('td', { class: 'num' }, g.lag),
            h('td', null, (g.topics || []).map((t, i) => [i ? ', ' : '', h('span', { class: 'mono' }, t.topic), ': ' + t.lag])))),
          { id: 'lag-table' });
      }),
      section('Dead letters', 'dlq', async () => {
        const st = await get('/v1/dead-letters/stats');
        const reasons = Object.entries(st.by_reason || {}).sort((a, b) => b[1] - a[1]);
        return [
          h('div', { class: 'cards' },
            h('div', { class: 'card' }, h('span', { class: 'n', id: 'dlq-total' }, st.total), 'dead letters in the dead-letter topic'),
            st.newest ? h('div', { class: 'card' }, h('span', { class: 'n' }, ago(st.newest)), 'newest failure, ', time(st.newest)) : null),
          reasons.length ? table('Dead letters by reason', ['Reason', ['Count', 'num']], reasons.map(([r, n]) => h('tr', null,
            h('td', null, h('a', { href: '#/dead-letters?reason=' + encodeURIComponent(r) }, r)),
            h('td', { class: 'num' }, n)))) : h('p', null, 'The dead-letter topic is empty.'),
          h('p', null, h('a', { href: '#/dead-letters' }, 'Inspect and replay dead letters')),
        ];
      }),
    ];
    await Promise.all(secs.map((s) => s.done));
  }

  // deliveryChart draws stacked bars per bucket: delivered attempts
  // (success) and failed ones (retry and failed), with a table of the same
  // numbers for screen readers and keyboard users.
  function deliveryChart(st) {
    const buckets = st.buckets || [];
    const delivered = buckets.map((b) => b.success);
    const failed = buckets.map((b) => b.retry + b.failed);
    const tot = st.total || { success: 0, retry: 0, failed: 0 };
    const max = Math.max(1, ...buckets.map((b, i) => delivered[i] + failed[i]));
    const W = 720, H = 220, L = 44, R = 8, T = 10, B = 28;
    const bw = (W - L - R) / Math.max(1, buckets.length);
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const hhmm = (iso) => { const d = new Date(iso); return pad(d.getHours()) + ':' + pad(d.getMinutes()); };
    const summary = tot.success + ' delivered and ' + (tot.retry + tot.failed) + ' failed attempts from ' +
      fmtTime(st.since) + ' to ' + fmtTime(st.until) + ', per ' + (st.bucket_seconds / 60) + ' minute.';
    const bars = buckets.map((b, i) => {
      const x = L + i * bw + 1, w = Math.max(1, bw - 2);
      const label = hhmm(b.start) + ': ' + delivered[i] + ' delivered, ' + failed[i] + ' failed';
      return svg('g', null, svg('title', null, label),
        delivered[i] ? svg('rect', { class: 'delivered', x, width: w, y: y(delivered[i]), height: y(0) - y(delivered[i]) }) : null,
        failed[i] ? svg('rect', { class: 'failed', x, width: w, y: y(delivered[i] + failed[i]), height: y(0) - y(failed[i]) }) : null);
    });
    const ticks = [0, Math.round(max / 2), max].filter((v, i, a) => a.indexOf(v) === i);
    const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-caption', id: 'delivery-chart' },
      ticks.map((v) => [svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v))]),
      svg('line', { class: 'axis', x1: L, x2: W - R, y1: y(0), y2: y(0) }),
      buckets.map((b, i) => (i % 10 === 0 && L + i * bw < W - R - 36 ? svg('text', { x: L + i * bw, y: H - 8 }, hhmm(b.start)) : null)),
      bars);
    return [
      h('div', { class: 'cards' },
        h('div', { class: 'card' }, h('span', { class: 'n', id: 'delivered-total' }, tot.success), 'delivered in the last hour'),
        h('div', { class: 'card' }, h('span', { class: 'n', id: 'failed-total' }, tot.retry + tot.failed), 'failed attempts in the last hour')),
      h('figure', null, chart,
        h('ul', { class: 'legend' },
          h('li', null, h('span', { class: 'swatch delivered', 'aria-hidden': 'true' }), 'Delivered (2xx)'),
          h('li', null, h('span', { class: 'swatch failed', 'aria-hidden': 'true' }), 'Failed (to be retried, or given up)')),
        h('figcaption', { id: 'chart-caption' }, 'Attempts per minute: ' + summary)),
      h('details', null, h('summary', null, 'The same numbers as a table'),
        table('Attempts per minute', ['Minute', ['Delivered', 'num'], ['Failed', 'num']],
          buckets.filter((b, i) => delivered[i] || failed[i]).map((b) => h('tr', null,
            h('td', null, time(b.start)), h('td', { class: 'num' }, b.success), h('td', { class: 'num' }, b.retry + b.failed))))),
    ];
  }

  // ---- Subscriptions -----------------------------------------------------

  // stateOf is a subscription's state as the console shows it: its own,
  // or "circuit" while the dispatcher's breaker for an active one is open.
  function stateOf(sub, breaker) {
    if (sub.state === 'active' && breaker && breaker.breaker && breaker.breaker !== 'closed') {
      return { text: 'circuit ' + breaker.breaker, cls: 'circuit' };
    }
    return { text: sub.state || 'active', cls: sub.state || 'active' };
  }

  async function subscriptions(page) {
    page.heading('Subscriptions');
    main.append(h('p', { class: 'lead' }, 'Every webhook endpoint, its state, and how its attempts went in the last 24 hours.'));
    const [subs, stats, status] = await Promise.all([
      allSubscriptions(),
      get('/v1/attempts/stats?since=24h&bucket=1h').catch((e) => ({ error: e })),
      get('/v1/endpoint-status').catch(() => ({ endpoints: [] })),
    ]);
    if (page.stale) return;
    const byID = Object.fromEntries(((stats && stats.subscriptions) || []).map((s) => [s.subscription_id, s]));
    const breakers = Object.fromEntries((status.endpoints || []).map((s) => [s.subscription_id, s]));
    if (stats.error) main.append(errorBox(stats.error, 'Success rates are not available'));
    if (!subs.length) {
      main.append(h('p', null, 'There are no subscriptions yet. Create one with POST /v1/subscriptions or hookctl subs add.'));
      return;
    }
    const filter = h('select', { id: 'state-filter' },
      ['all', 'active', 'paused', 'disabled', 'circuit'].map((s) => h('option', { value: s }, s)));
    const rows = subs.map((sub) => {
      const st = stateOf(sub, breakers[sub.id]);
      const a = byID[sub.id];
      const tr = h('tr', { 'data-state': st.cls, 'data-id': sub.id },
        h('th', { scope: 'row' }, subLink(sub.id)),
        h('td', { class: 'mono' }, redactURL(sub.url)),
        h('td', null, (sub.event_types || []).join(', ')),
        h('td', null, badge(st.text, st.cls), sub.state_reason ? h('span', { class: 'muted' }, ' ' + sub.state_reason) : null),
        h('td', { class: 'num' }, a ? [pct(a.success_rate), h('span', { class: 'muted' }, ' of ' + (a.success + a.retry + a.failed))] : h('span', { class: 'muted' }, 'no attempts')),
        h('td', null, a && a.last ? [badge(a.last.result), ' ', a.last.status ? 'HTTP ' + a.last.status + ', ' : '', h('span', { title: a.last.at }, ago(a.last.at))] : '—'));
      return tr;
    });
    filter.addEventListener('change', () => {
      let shown = 0;
      for (const tr of rows) {
        tr.hidden = filter.value !== 'all' && tr.dataset.state !== filter.value;
        if (!tr.hidden) shown++;
      }
      announce(shown + ' subscriptions shown.');
    });
    main.append(
      h('div', { class: 'row' }, h('div', { class: 'field' }, h('label', { for: 'state-filter' }, 'Show state'), filter)),
      table(subs.length + ' subscriptions', ['Subscription', 'URL', 'Event types', 'State', ['Success rate (24 h)', 'num'], 'Last attempt'], rows, { id: 'subscriptions-table' }));
  }

  // ---- One subscription --------------------------------------------------

  async function subscription(page) {
    const id = page.arg;
    let sub, etag;
    try {
      const r = await api('GET', '/v1/subscriptions/' + encodeURIComponent(id));
      sub = r.data; etag = r.etag;
    } catch (e) {
      page.heading('Subscription ' + id);
      if (e.status === 404) {
        main.append(h('p', { class: 'error', role: 'alert' }, 'There is no subscription ' + id + '.'), h('p', null, h('a', { href: '#/subscriptions' }, 'All subscriptions')));
        return;
      }
      throw e;
    }
    if (page.stale) return;
    const status = await get('/v1/endpoint-status').catch(() => ({ endpoints: [] }));
    const breaker = (status.endpoints || []).find((s) => s.subscription_id === id);
    const st = stateOf(sub, breaker);
    page.heading('Subscription ' + id + ' ', badge(st.text, st.cls));
    main.append(h('p', null, h('a', { href: '#/subscriptions' }, '← All subscriptions')));

    const act = async (what, path, body, done) => {
      try {
        const r = await api('POST', '/v1/subscriptions/' + encodeURIComponent(id) + path, body, { 'If-Match': etag });
        if (done) await done(r.data);
        announce(what);
        await render(false);
        main.prepend(h('p', { class: 'notice', role: 'status', id: 'action-result' }, what));
      } catch (e) {
        if (e.status === 412) {
          await render(false);
          main.prepend(h('p', { class: 'error', role: 'alert' }, 'The subscription changed since this page was loaded, so nothing was done. The page now shows the current version; try again.'));
          return;
        }
        main.prepend(errorBox(e, what.replace(/\.$/, '') + ' failed'));
      }
    };
    const pauseBtn = h('button', { type: 'button', id: 'pause', onclick: async () => {
      const reason = h('input', { type: 'text', id: 'pause-reason', maxlength: '500', 'aria-describedby': 'pause-reason-hint' });
      const yes = await dialog({
        title: 'Pause subscription ' + id + '?', confirm: 'Pause', danger: false,
        body: [h('p', null, 'Deliveries to ' + redactURL(sub.url) + ' are held (not dropped) until it is resumed.'),
          h('div', { class: 'field' }, h('label', { for: 'pause-reason' }, 'Reason (optional)'), reason,
            h('p', { class: 'hint', id: 'pause-reason-hint' }, 'Shown with the state, for whoever looks next.'))],
      });
      if (yes) await act('Subscription ' + id + ' paused.', '/pause', reason.value ? { reason: reason.value } : {});
    } }, 'Pause');
    const resumeBtn = h('button', { type: 'button', id: 'resume', onclick: async () => {
      const yes = await dialog({
        title: 'Resume subscription ' + id + '?', confirm: 'Resume',
        body: h('p', null, sub.state === 'disabled'
          ? 'The subscription is disabled (' + (sub.state_reason || 'no reason given') + '). Resuming enables it: deliveries go to ' + redactURL(sub.url) + ' again, and its endpoint_disabled dead letters can be replayed.'
          : 'Held deliveries and new ones go to ' + redactURL(sub.url) + ' again.'),
      });
      if (yes) await act('Subscription ' + id + ' resumed.', '/resume', {});
    } }, 'Resume');
    const rotateBtn = h('button', { type: 'button', id: 'rotate', class: 'quiet', onclick: async () => {
      const grace = h('select', { id: 'rotate-grace' },
        [['0', 'no time: stop signing with it now'], ['3600', '1 hour'], ['86400', '24 hours'], ['604800', '7 days']]
          .map(([v, t]) => h('option', { value: v, selected: v === '86400' }, t)));
      const yes = await dialog({
        title: 'Rotate the signing secret of ' + id + '?', confirm: 'Rotate secret', danger: true,
        body: [h('p', null, 'A new secret signs every delivery from now on. The receiver must verify with the new secret before the old one stops signing.'),
          h('div', { class: 'field' }, h('label', { for: 'rotate-grace' }, 'Keep signing with the current secret for'), grace)],
      });
      if (!yes) return;
      await act('The signing secret of ' + id + ' was rotated.', '/rotate-secret', { grace_seconds: Number(grace.value) }, async (data) => {
        await dialog({
          title: 'New signing secret', id: 'secret-dialog',
          body: [h('p', null, 'Give this secret to the receiver now. It is shown only this once; the console keeps no copy.'),
            h('label', { for: 'new-secret' }, 'New secret of ' + id),
            h('input', { type: 'text', id: 'new-secret', class: 'secret mono', readonly: true, value: data.secret, onfocus: (ev) => ev.target.select() })],
        });
      });
    } }, 'Rotate secret');
    main.append(h('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' },
      sub.state === 'paused' || sub.state === 'disabled' ? resumeBtn : pauseBtn, rotateBtn,
      h('a', { class: 'button quiet', href: '#/dead-letters?subscription_id=' + encodeURIComponent(id) }, 'Dead letters of ' + id)));

    // Settings, with secrets and custom header values hidden.
    const dd = (label, value) => [h('dt', null, label), h('dd', null, value === undefined || value === null || value === '' ? '—' : value)];
    const headers = Object.keys(sub.headers || {});
    const meta = Object.entries(sub.metadata || {});
    main.append(h('section', { 'aria-labelledby': 'settings-title' }, h('h2', { id: 'settings-title' }, 'Settings'),
      h('dl', { class: 'settings', id: 'settings' },
        dd('URL', h('span', { class: 'mono' }, redactURL(sub.url))),
        dd('Event types', (sub.event_types || []).join(', ')),
        dd('Filter', sub.filter ? h('code', null, sub.filter) : null),
        dd('Format', sub.format),
        dd('State', [badge(sub.state), sub.state_reason ? ' ' + sub.state_reason : '']),
        dd('Circuit breaker', breaker ? [badge(breaker.breaker, breaker.breaker === 'closed' ? 'active' : breaker.breaker), ' since ', time(breaker.since)] : 'closed (never opened)'),
        dd('Signing secrets', (sub.secrets || []).length + ' (hidden)' + ((sub.secrets || []).filter((s) => s.expires_at).map((s) => '; one expires ' + fmtTime(s.expires_at)).join(''))),
        dd('Rate limit', sub.rate_limit ? sub.rate_limit + ' requests/s' : 'unlimited'),
        dd('Max in flight', sub.max_in_flight),
        dd('Ordered', sub.ordered ? 'yes' : 'no'),
        dd('Timeout', sub.timeout_ms ? sub.timeout_ms + ' ms' : 'default (10 s)'),
        dd('Custom headers', headers.length ? headers.map((k) => k + ': (hidden)').join(', ') : null),
        dd('Metadata', meta.length ? meta.map(([k, v]) => k + '=' + v).join(', ') : null),
        dd('Created', time(sub.created_at)),
        dd('Updated', time(sub.updated_at)),
        dd('Version', sub.version))));

    const attempts = section('Recent attempts', 'attempts', async () => {
      const d = await get('/v1/attempts' + query({ subscription_id: id, since: '24h', limit: 50 }));
      const list = (d.attempts || []).slice().reverse();
      if (!list.length) return h('p', null, 'No attempts in the last 24 hours.');
      return [h('p', { class: 'muted' }, 'The last ' + list.length + ' of ' + d.total + ' attempts in the last 24 hours, newest first.'),
        attemptTable('Recent attempts of ' + id, list, true)];
    });
    await attempts.done;
  }

  function attemptTable(caption, list, withEvent) {
    return table(caption, ['Time', withEvent ? 'Event' : null, ['Attempt', 'num'], 'Result', ['HTTP status', 'num'], ['Latency', 'num'], 'Error'].filter(Boolean),
      list.map((a) => h('tr', { 'data-result': a.result },
        h('td', null, time(a.at)),
        withEvent ? h('td', null, eventLink(a.event_id)) : null,
        h('td', { class: 'num' }, a.attempt),
        h('td', null, badge(a.result)),
        h('td', { class: 'num' }, a.status || '—'),
        h('td', { class: 'num' }, ms(a.latency_ms)),
        h('td', null, a.error || ''))), { hideCaption: true });
  }

  // ---- Event look-up -----------------------------------------------------

  async function eventLookup(page) {
    page.heading('Event look-up');
    const id = page.arg;
    const input = h('input', { type: 'search', id: 'event-id', name: 'event-id', value: id, required: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'event-id-hint' });
    main.append(h('form', { role: 'search', class: 'panel', onsubmit: (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      if (v) go('#/events/' + encodeURIComponent(v));
    } },
    h('div', { class: 'row' },
      h('div', { class: 'field' }, h('label', { for: 'event-id' }, 'Event id'), input),
      h('button', { type: 'submit', id: 'look-up' }, 'Look up')),
    h('p', { class: 'hint', id: 'event-id-hint' }, 'The id POST /v1/events answered with (the CloudEvents id). Shows every subscription the event was attempted for or dead-lettered at, and every attempt.')));
    if (!id) {
      if (page.stale) return;
      input.focus();
      return;
    }
    const [att, dls] = await Promise.all([
      get('/v1/attempts' + query({ event_id: id, limit: 1000 })),
      get('/v1/dead-letters' + query({ event_id: id, limit: 1000 })),
    ]);
    if (page.stale) return;
    const bySub = new Map();
    const entry = (sid) => {
      if (!bySub.has(sid)) bySub.set(sid, { attempts: [], dead: [] });
      return bySub.get(sid);
    };
    for (const a of att.attempts || []) entry(a.subscription_id || '').attempts.push(a);
    const routeStage = [];
    for (const d of dls.dead_letters || []) {
      if (d.subscription_id) entry(d.subscription_id).dead.push(d);
      else routeStage.push(d);
    }
    const results = h('section', { 'aria-labelledby': 'results-title', id: 'event-results' },
      h('h2', { id: 'results-title' }, 'Event ', h('span', { class: 'mono' }, id)));
    main.append(results);
    if (!bySub.size && !routeStage.length) {
      results.append(h('p', { id: 'event-empty' }, 'No attempts and no dead letters for this event. Attempts are kept for a day (the attempts topic\'s retention). ' +
        'An event that matched no subscription has none; deliveries to a paused subscription wait, unattempted, until it is resumed.'));
      return;
    }
    results.append(h('p', null, bySub.size + ' subscription' + (bySub.size === 1 ? '' : 's') + ', ' + (att.attempts || []).length + ' attempt' + ((att.attempts || []).length === 1 ? '' : 's') + '.'));
    for (const [sid, e] of [...bySub.entries()].sort()) {
      const last = e.attempts[e.attempts.length - 1];
      let outcome;
      if (e.attempts.some((a) => a.result === 'success')) outcome = badge('delivered');
      else if (e.dead.length) outcome = badge('dead-lettered', 'dead-lettered');
      else if (last && last.result === 'retry') outcome = badge('retrying');
      else outcome = badge(last ? last.result : 'unknown', last ? last.result : 'unknown');
      const did = (last && last.delivery_id) || (e.dead[0] && e.dead[0].delivery_id);
      const box = h('section', { class: 'panel', 'data-subscription': sid, 'aria-labelledby': 'sub-' + sid + '-title' },
        h('h3', { id: 'sub-' + sid + '-title' }, 'Subscription ', subLink(sid), ' ', outcome),
        did ? h('p', null, 'Delivery (webhook-id) ', h('span', { class: 'mono' }, did)) : null,
        e.attempts.length ? attemptTable('Attempts for subscription ' + sid, e.attempts, false) : h('p', null, 'No attempts recorded.'),
        e.dead.map((d) => h('p', null, 'Dead-lettered ', time(d.failed_at), ' as ', h('strong', null, d.reason), ' (position ', h('span', { class: 'mono' }, d.position), '). ',
          h('a', { href: '#/dead-letters?' + new URLSearchParams({ subscription_id: sid, event_id: id }).toString() }, 'Inspect or replay'))));
      results.append(box);
    }
    if (routeStage.length) {
      results.append(h('section', { class: 'panel' }, h('h3', null, 'Not routed'),
        routeStage.map((d) => h('p', null, 'The router dead-lettered it ', time(d.failed_at), ' as ', h('strong', null, d.reason),
          d.dead_letter && d.dead_letter.error ? ': ' + d.dead_letter.error : '', '.'))));
    }
  }

  // ---- Dead letters ------------------------------------------------------

  async function deadLetters(page) {
    page.heading('Dead letters');
    const p = page.params;
    const filter = { reason: p.get('reason') || '', subscription_id: p.get('subscription_id') || '', since: p.get('since') || '', until: p.get('until') || '', event_id: p.get('event_id') || '' };
    const stats = await get('/v1/dead-letters/stats').catch(() => ({ by_reason: {}, by_subscription: {} }));
    if (page.stale) return;
    const opts = (values, current, any) => [h('option', { value: '' }, any),
      [...new Set([...values, current].filter(Boolean))].sort().map((v) => h('option', { value: v, selected: v === current }, v))];
    const reason = h('select', { id: 'f-reason', name: 'reason' }, opts(Object.keys(stats.by_reason || {}), filter.reason, 'any reason'));
    const sub = h('select', { id: 'f-subscription', name: 'subscription_id' }, opts(Object.keys(stats.by_subscription || {}), filter.subscription_id, 'any subscription'));
    const since = h('input', { type: 'text', id: 'f-since', name: 'since', value: filter.since, placeholder: '24h', 'aria-describedby': 'f-time-hint' });
    const until = h('input', { type: 'text', id: 'f-until', name: 'until', value: filter.until, placeholder: '2025-01-31T12:00:00Z', 'aria-describedby': 'f-time-hint' });
    const form = h('form', { class: 'panel', id: 'dlq-filter', 'aria-label': 'Filter dead letters', onsubmit: (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      for (const [k, el] of [['reason', reason], ['subscription_id', sub], ['since', since], ['until', until]]) if (el.value.trim()) q.set(k, el.value.trim());
      if (filter.event_id) q.set('event_id', filter.event_id);
      go('#/dead-letters' + (q.toString() ? '?' + q : ''));
    } },
    h('div', { class: 'row' },
      h('div', { class: 'field' }, h('label', { for: 'f-reason' }, 'Reason'), reason),
      h('div', { class: 'field' }, h('label', { for: 'f-subscription' }, 'Subscription'), sub),
      h('div', { class: 'field' }, h('label', { for: 'f-since' }, 'Failed since'), since),
      h('div', { class: 'field' }, h('label', { for: 'f-until' }, 'Failed before'), until),
      h('button', { type: 'submit', id: 'apply-filter' }, 'Apply'),
      h('a', { class: 'button quiet', href: '#/dead-letters' }, 'Clear')),
    h('p', { class: 'hint', id: 'f-time-hint' }, 'Times are RFC 3339 (2025-01-31T12:00:00Z) or a duration ago (90m, 24h).'),
    filter.event_id ? h('p', null, 'Only event ', h('span', { class: 'mono' }, filter.event_id), '.') : null);
    main.append(form);

    const selection = { subscription_id: filter.subscription_id || undefined, reasons: filter.reason ? [filter.reason] : undefined,
      since: filter.since || undefined, until: filter.until || undefined, event_id: filter.event_id || undefined };
    const d = await get('/v1/dead-letters' + query({ reason: filter.reason, subscription_id: filter.subscription_id, since: filter.since, until: filter.until, event_id: filter.event_id, limit: 500 }));
    if (page.stale) return;
    const list = d.dead_letters || [];
    const chosen = new Set();
    const replaySel = h('button', { type: 'button', id: 'replay-selected', disabled: true, onclick: () => replayFlow(list.filter((x) => chosen.has(x.position)).map((x) => ({ position: x.position }))) }, 'Replay selected');
    const replayAll = h('button', { type: 'button', id: 'replay-all', class: 'quiet', disabled: !list.length, onclick: () => replayFlow([selection]) }, 'Replay all that match');
    const count = h('span', { id: 'selected-count', 'aria-live': 'polite' }, 'none selected');
    const update = () => {
      replaySel.disabled = chosen.size === 0;
      replaySel.textContent = chosen.size ? 'Replay ' + chosen.size + ' selected' : 'Replay selected';
      count.textContent = chosen.size ? chosen.size + ' selected' : 'none selected';
    };
    const boxes = [];
    const rows = list.map((x) => {
      const cb = h('input', { type: 'checkbox', id: 'sel-' + x.position.replace('/', '-'), 'data-position': x.position, 'aria-label': 'Select dead letter ' + x.position + (x.event_id ? ' of event ' + x.event_id : '') });
      boxes.push(cb);
      const tr = h('tr', { 'data-position': x.position },
        h('td', null, cb),
        h('td', null, time(x.failed_at)),
        h('td', null, x.reason),
        h('td', null, subLink(x.subscription_id)),
        h('td', { class: 'mono' }, x.event_type || '—'),
        h('td', null, eventLink(x.event_id)),
        h('td', { class: 'num' }, x.dead_letter ? x.dead_letter.attempts || 0 : '—'),
        h('td', { class: 'num' }, x.dead_letter && x.dead_letter.last_status ? x.dead_letter.last_status : '—'),
        h('td', null, h('button', { type: 'button', class: 'quiet', 'aria-label': 'Inspect dead letter ' + x.position, onclick: () => inspect(x) }, 'Inspect')));
      cb.addEventListener('change', () => {
        if (cb.checked) chosen.add(x.position); else chosen.delete(x.position);
        tr.classList.toggle('selected', cb.checked);
        update();
      });
      return tr;
    });
    const all = h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select all dead letters shown', onchange: () => {
      for (const cb of boxes) if (cb.checked !== all.checked) { cb.checked = all.checked; cb.dispatchEvent(new Event('change')); }
    } });
    main.append(h('p', { id: 'dlq-count' }, list.length === d.total ? d.total + ' dead letters match.' : 'Showing the oldest ' + list.length + ' of ' + d.total + ' that match; narrow the filter to see the rest.'),
      h('div', { class: 'actions', role: 'group', 'aria-label': 'Replay' }, replaySel, replayAll, count),
      h('p', { class: 'hint' }, 'Replay sends a dead letter to its subscription again with its original webhook-id. Every replay is a dry run first: you see what it would do, then confirm.'));
    if (!list.length) {
      main.append(h('p', null, 'No dead letters match.'));
      return;
    }
    main.append(table('Dead letters', [h('span', null, all), 'Failed at', 'Reason', 'Subscription', 'Event type', 'Event', ['Attempts', 'num'], ['Last status', 'num'], h('span', { class: 'visually-hidden' }, 'Inspect')], rows, { id: 'dlq-table', hideCaption: true }));
  }

  function inspect(x) {
    return dialog({
      title: 'Dead letter ' + x.position, id: 'inspect-dialog',
      body: [h('dl', { class: 'settings' },
        h('dt', null, 'Reason'), h('dd', null, x.reason),
        h('dt', null, 'Failed at'), h('dd', null, time(x.failed_at)),
        h('dt', null, 'Subscription'), h('dd', null, x.subscription_id || '—'),
        h('dt', null, 'Event'), h('dd', { class: 'mono' }, x.event_id || '—'),
        h('dt', null, 'Delivery (webhook-id)'), h('dd', { class: 'mono' }, x.delivery_id || '—'),
        x.dead_letter && x.dead_letter.error ? [h('dt', null, 'Last error'), h('dd', null, x.dead_letter.error)] : null,
        x.decode_error ? [h('dt', null, 'Decode error'), h('dd', null, x.decode_error)] : null),
      h('h3', null, 'Record'),
      h('pre', { tabindex: '0', 'aria-label': 'The dead-letter record as JSON' }, JSON.stringify(x.dead_letter || x, null, 2))],
    });
  }

  // replayFlow replays each request (a selection or one position): a dry
  // run of each first, shown for confirmation, then the replay itself.
  async function replayFlow(requests) {
    let force = false, restart = false;
    let plans = [];
    const dry = async () => {
      plans = [];
      for (const r of requests) {
        try {
          plans.push({ req: r, res: (await api('POST', '/v1/dead-letters/replay', Object.assign({}, r, { dry_run: true, restart, force }))).data });
        } catch (e) {
          plans.push({ req: r, err: e });
        }
      }
    };
    await dry();
    const yes = await dialog({
      title: 'Replay dead letters?', confirm: 'Replay', id: 'replay-dialog',
      body: (dlg) => {
        const fill = () => {
          clear(dlg.content);
          const items = plans.flatMap((p) => (p.res && p.res.items) || []);
          const problems = [...new Set(plans.flatMap((p) => (p.res && p.res.problems) || []))];
          const errors = plans.filter((p) => p.err);
          const done = plans.filter((p) => p.res && p.res.matched === 0 && p.res.read === 0);
          append(dlg.content, [
            h('p', { id: 'dry-run-summary' }, 'Dry run: ' + items.length + ' dead letter' + (items.length === 1 ? '' : 's') + ' would be replayed' +
              (items.length ? ' to ' + [...new Set(items.map((i) => i.to))].join(', ') : '') + '.'),
            items.length ? h('ul', { class: 'items' }, items.slice(0, 200).map((i) => h('li', null,
              h('span', { class: 'mono' }, i.position), ' → subscription ', i.subscription_id || '—', i.event_id ? ', event ' + i.event_id : '', ' (' + i.reason + ')'))) : null,
            done.length && !items.length ? h('p', null, 'An earlier replay of this selection already sent everything it matches.') : null,
            problems.length ? h('div', { class: 'error', role: 'alert' }, h('p', null, 'Some targets are not active:'), h('ul', null, problems.map((x) => h('li', null, x)))) : null,
            errors.map((p) => errorBox(p.err, p.req.position ? 'Dead letter ' + p.req.position : 'The selection')),
            h('label', { class: 'inline' }, h('input', { type: 'checkbox', id: 'replay-restart', prop: { checked: restart }, onchange: async (ev) => { restart = ev.target.checked; await dry(); fill(); } }),
              'Start over: include dead letters an earlier replay of the same selection already sent'),
            problems.length ? h('label', { class: 'inline' }, h('input', { type: 'checkbox', id: 'replay-force', prop: { checked: force }, onchange: async (ev) => { force = ev.target.checked; await dry(); fill(); } }),
              'Replay to inactive subscriptions anyway (they will dead-letter again unless resumed)') : null,
          ]);
          dlg.setConfirmable(items.length > 0 && (!problems.length || force) && !errors.length);
        };
        fill();
      },
    });
    if (!yes) {
      announce('Replay cancelled.');
      return;
    }
    let replayed = 0;
    const failures = [];
    for (const p of plans) {
      if (!p.res || !p.res.items || !p.res.items.length) continue;
      try {
        const r = (await api('POST', '/v1/dead-letters/replay', Object.assign({}, p.req, { restart, force }))).data;
        replayed += r.replayed + r.replayed_route;
      } catch (e) {
        failures.push(describeError(e));
      }
    }
    const events = [...new Set(plans.flatMap((p) => (p.res && p.res.items) || []).map((i) => i.event_id).filter(Boolean))];
    const msg = 'Replayed ' + replayed + ' dead letter' + (replayed === 1 ? '' : 's') + '.';
    announce(msg);
    main.prepend(h('div', { class: failures.length ? 'error' : 'notice', role: 'status', id: 'replay-result' },
      h('p', null, msg + (failures.length ? ' Failed: ' + failures.join('; ') : '')),
      events.length ? h('p', null, 'Follow ', events.slice(0, 10).map((e, i) => [i ? ', ' : '', eventLink(e)]), events.length > 10 ? ' …' : '', ' in the event look-up.') : null));
    main.focus();
  }

  // ---- Event types -------------------------------------------------------

  async function eventTypes(page) {
    page.heading('Event types');
    main.append(h('p', { class: 'lead' }, 'The event-type catalogue: what each type means and the JSON Schema its data must satisfy.'));
    const d = await get('/v1/event-types');
    if (page.stale) return;
    const types = (d.event_types || []).slice().sort((a, b) => a.name.localeCompare(b.name));
    if (!types.length) {
      main.append(h('p', null, 'The catalogue is empty. Add types with POST /v1/event-types or hookctl types add.'));
      return;
    }
    main.append(h('nav', { 'aria-label': 'Event types' }, h('ul', null, types.map((t) => h('li', null, h('a', { href: '#/event-types', 'data-target': 'type-' + t.name, onclick: (ev) => {
      ev.preventDefault();
      const el = document.getElementById('type-' + t.name);
      el.scrollIntoView();
      el.querySelector('h2').focus();
    } }, t.name), t.deprecated ? ' (deprecated)' : '')))));
    for (const t of types) {
      main.append(h('section', { id: 'type-' + t.name, class: 'panel', 'aria-labelledby': 'type-' + t.name + '-title' },
        h('h2', { id: 'type-' + t.name + '-title', tabindex: '-1', class: 'mono' }, t.name, t.deprecated ? [' ', badge('deprecated', 'disabled')] : null),
        h('p', null, t.description || h('span', { class: 'muted' }, 'No description.')),
        h('p', { class: 'muted' }, 'Version ' + (t.version || '—') + ', updated ', time(t.updated_at)),
        t.schema ? h('details', null,
          h('summary', null, 'JSON Schema of ' + t.name),
          h('pre', { tabindex: '0', 'aria-label': 'JSON Schema of ' + t.name }, JSON.stringify(t.schema, null, 2))) : h('p', null, 'No schema: any data is accepted.'),
        t.example ? h('details', null, h('summary', null, 'Example of ' + t.name),
          h('pre', { tabindex: '0', 'aria-label': 'Example of ' + t.name }, JSON.stringify(t.example, null, 2))) : null));
    }
  }

  // ---- start -------------------------------------------------------------

  document.getElementById('sign-out').addEventListener('click', () => {
    signOut();
    announce('Signed out.');
  });
  window.addEventListener('hashchange', () => render(true));
  render(false);
})();
