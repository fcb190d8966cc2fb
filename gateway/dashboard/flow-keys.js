// The dashboard's Busiest keys view: the flow-control keys with the most tasks waiting for a
// slot of their key plus running in one, and the totals over every key. Reads
// GET /api/v1/flow/keys; loaded after lib.js, beside app.js.
'use strict';

(function flowKeys() {
  const REFRESH_MS = 3000;
  const { api, el } = window.celerityDashboard;
  const $ = (selector) => document.querySelector(selector);

  function row(k) {
    return el(
      'tr',
      { 'data-task': k.task, 'data-key': k.key },
      el('td', {}, k.task),
      el('td', {}, el('code', {}, k.key)),
      el('td', { 'data-field': 'waiting' }, k.waiting),
      el('td', { 'data-field': 'running' }, k.running),
    );
  }

  async function refresh() {
    let body;
    try {
      body = await api('flow/keys');
    } catch (err) {
      $('#flow-key-table tbody').replaceChildren(el('tr', {}, el('td', { colSpan: 4, class: 'offline' }, err.message)));
      return;
    }
    const rows = body.keys.map(row);
    $('#flow-key-table tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colSpan: 4 }, 'No task with a per-key limit is waiting or running.'))]));
    const t = body.totals;
    $('#flow-key-totals').textContent = 'Over all ' + t.keys + (t.keys === 1 ? ' key: ' : ' keys: ') + t.waiting + ' waiting, ' + t.running + ' running.';
  }

  void refresh();
  setInterval(() => void refresh(), REFRESH_MS);
})();
