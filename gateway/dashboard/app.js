// Celerity's operators' dashboard: plain browser JavaScript, no build step. It reads the
// gateway's JSON API relative to /dashboard/ (so a path prefix in front of the gateway works),
// always with the page's credentials (cookie or whatever issue-7 style auth the gateway uses).
'use strict';

(function main() {
  const REFRESH_MS = 3000;
  const PAGE_SIZE = 25;
  const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

  const $ = (selector) => document.querySelector(selector);
  const statusEl = $('#status');
  const banner = $('#banner');

  const { api, el, fmtTime, fmtAgo, fmtSeconds, json } = window.celerityDashboard;

  // ---- Queues ----------------------------------------------------------------------------
  const charts = { depth: null, rate: null, key: '' };

  function chartData(queues, field) {
    // One table per queue, joined on time (seconds) so samples of a round share an x value.
    const tables = queues.map((q) => {
      const xs = [];
      const ys = [];
      for (const p of q.history) {
        xs.push(p.t / 1000);
        ys.push(p[field]);
      }
      return [xs, ys];
    });
    if (tables.length === 0) return [[]];
    return uPlot.join(tables);
  }

  function makeChart(target, queues, data) {
    target.replaceChildren();
    const width = Math.max(320, Math.min(560, target.parentElement.clientWidth || 560));
    return new uPlot(
      {
        width,
        height: 200,
        scales: { x: { time: true } },
        series: [{}, ...queues.map((q, i) => ({ label: q.queue, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true }))],
        axes: [{}, { size: 50 }],
      },
      data,
      target,
    );
  }

  function renderCharts(queues) {
    const key = queues.map((q) => q.queue).join('|');
    const depth = chartData(queues, 'messages');
    const rate = chartData(queues, 'finishedPerS');
    const depthEl = $('#depth-chart');
    const rateEl = $('#rate-chart');
    if (key !== charts.key || !charts.depth) {
      if (charts.depth) charts.depth.destroy();
      if (charts.rate) charts.rate.destroy();
      charts.depth = makeChart(depthEl, queues, depth);
      charts.rate = makeChart(rateEl, queues, rate);
      charts.key = key;
    } else {
      charts.depth.setData(depth);
      charts.rate.setData(rate);
    }
    // For tests and curious operators: how many samples the chart holds.
    depthEl.dataset.points = String(depth[0].length);
    rateEl.dataset.points = String(rate[0].length);
  }

  let knownQueues = [];

  async function refreshQueues() {
    const body = await api('queues');
    const queues = body.queues;
    knownQueues = queues.map((q) => q.queue);
    fillDeadLetterQueues();
    const rows = queues.map((q) => {
      const last = q.history[q.history.length - 1] || {};
      return el(
        'tr',
        { 'data-queue': q.queue },
        el('td', {}, el('code', {}, q.queue)),
        el('td', {}, q.messages),
        el('td', { class: q.consumers === 0 ? 'offline' : '' }, q.consumers),
        el('td', {}, last.receivedPerS ?? '—'),
        el('td', {}, last.finishedPerS ?? '—'),
        el('td', {}, fmtAgo(q.sampledAt)),
      );
    });
    $('#queue-table tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colSpan: 6 }, 'No queues sampled yet.'))]));
    renderCharts(queues);
  }

  // ---- Workers ---------------------------------------------------------------------------
  async function refreshWorkers() {
    const body = await api('workers');
    const rows = body.workers.map((w) =>
      el(
        'tr',
        { 'data-worker': w.hostname },
        el('td', {}, el('code', {}, w.hostname)),
        el('td', { class: w.status }, w.status),
        el('td', {}, w.status === 'online' ? w.active + ' / ' + (w.concurrency ?? '?') : '—'),
        el('td', {}, w.queues.join(', ')),
        el('td', {}, w.processed),
        el('td', {}, fmtAgo(w.lastHeartbeat)),
      ),
    );
    $('#worker-table tbody').replaceChildren(
      ...(rows.length ? rows : [el('tr', {}, el('td', { colSpan: 6 }, 'No worker has announced itself on the event exchange yet.'))]),
    );
  }

  // ---- Tasks -----------------------------------------------------------------------------
  const search = { params: new URLSearchParams(), cursor: null, next: null };

  function searchParams() {
    const form = new FormData($('#search'));
    const params = new URLSearchParams();
    for (const key of ['id', 'name', 'state']) {
      const value = String(form.get(key) || '').trim();
      if (value) params.set(key, value);
    }
    for (const key of ['from', 'to']) {
      const value = String(form.get(key) || '').trim();
      if (value) params.set(key, new Date(value).toISOString());
    }
    params.set('limit', String(PAGE_SIZE));
    return params;
  }

  async function loadTasks() {
    const params = new URLSearchParams(search.params);
    if (search.cursor) params.set('cursor', search.cursor);
    let body;
    try {
      body = await api('tasks?' + params.toString());
    } catch (err) {
      $('#task-table tbody').replaceChildren(el('tr', {}, el('td', { colSpan: 7, class: 'offline' }, err.message)));
      return;
    }
    search.next = body.nextCursor;
    const rows = body.tasks.map((t) =>
      el(
        'tr',
        { class: 'clickable', 'data-id': t.id, onclick: () => showTask(t.id) },
        el('td', {}, fmtTime(t.createdAt)),
        el('td', {}, el('code', {}, t.id)),
        el('td', {}, t.name),
        el('td', {}, t.queue),
        el('td', { class: 'state-' + t.state }, t.state),
        el('td', {}, t.retries + 1),
        el('td', {}, fmtSeconds(t.startedAt, t.finishedAt)),
      ),
    );
    $('#task-table tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colSpan: 7 }, 'No tasks match.'))]));
    $('#task-count').textContent = body.tasks.length + ' shown' + (search.cursor ? ' (later page)' : '');
    $('#next-page').disabled = !search.next;
    $('#first-page').disabled = !search.cursor;
  }

  async function showTask(id) {
    const detail = $('#task-detail');
    let t;
    try {
      t = await api('tasks/' + encodeURIComponent(id));
    } catch (err) {
      detail.hidden = false;
      $('#detail-id').textContent = id;
      $('#detail-fields').replaceChildren(el('dt', {}, 'error'), el('dd', { class: 'offline' }, err.message));
      return;
    }
    const fields = [
      ['name', t.name],
      ['queue', t.queue],
      ['state', el('span', { class: 'state-' + t.state }, t.state)],
      ['attempts', t.retries + 1],
      ['worker', t.worker || '—'],
      ['created', fmtTime(t.createdAt)],
      ['started', fmtTime(t.startedAt)],
      ['finished', fmtTime(t.finishedAt)],
      ['waited', fmtSeconds(t.createdAt, t.startedAt)],
      ['ran', fmtSeconds(t.startedAt, t.finishedAt)],
      ['args', json(t.args)],
      ['kwargs', json(t.kwargs)],
      t.error ? ['error', json(t.error)] : ['result', json(t.result)],
    ];
    $('#detail-id').textContent = t.id;
    $('#detail-fields').replaceChildren(...fields.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-field': k }, v)]));
    const actions = window.celerityRevoke.actions(t, () => void showTask(t.id).then(() => loadTasks()), window.celerityDashboard.showBanner);
    $('#detail-actions').replaceChildren(...(actions ? [actions] : []));
    detail.hidden = false;
    void window.celerityWorkflows.linkTask(t.id, showTask);
  }

  $('#search').addEventListener('submit', (event) => {
    event.preventDefault();
    search.params = searchParams();
    search.cursor = null;
    const id = search.params.get('id');
    void loadTasks();
    if (id) void showTask(id);
  });
  $('#search').addEventListener('reset', () => {
    setTimeout(() => {
      search.params = searchParams();
      search.cursor = null;
      $('#task-detail').hidden = true;
      void loadTasks();
    });
  });
  $('#next-page').addEventListener('click', () => {
    if (!search.next) return;
    search.cursor = search.next;
    void loadTasks();
  });
  $('#first-page').addEventListener('click', () => {
    search.cursor = null;
    void loadTasks();
  });

  // ---- Dead letters ----------------------------------------------------------------------
  // Alerts and Grafana panels link `?queue=<name>#dead-letters`: that queue's letters, shown once.
  const linkedQueue = new URLSearchParams(window.location.search).get('queue');
  let linkedShown = false;

  function fillDeadLetterQueues() {
    const select = $('#dead-form select');
    const current = select.value || linkedQueue;
    const names = knownQueues.filter((q) => !q.endsWith('.dead'));
    if (linkedQueue && !names.includes(linkedQueue)) names.push(linkedQueue);
    if (names.join('|') !== [...select.options].map((o) => o.value).join('|')) {
      select.replaceChildren(...names.map((q) => el('option', { value: q, selected: q === current }, q)));
    }
    if (linkedQueue && !linkedShown) {
      linkedShown = true;
      void loadDeadLetters();
    }
  }

  async function loadDeadLetters() {
    const queue = $('#dead-form select').value;
    const message = $('#dead-message');
    const table = $('#dead-table');
    const redriveAll = $('#redrive-all');
    if (!queue) {
      message.textContent = 'Pick a queue.';
      return;
    }
    let body;
    try {
      body = await api('dead-letters?queue=' + encodeURIComponent(queue) + '&limit=50');
    } catch (err) {
      table.hidden = true;
      redriveAll.disabled = true;
      message.textContent =
        err.status === 404 && err.code === 'ROUTE_NOT_FOUND'
          ? 'Dead letters are not available on this gateway.'
          : 'Could not read dead letters: ' + err.message;
      return;
    }
    const rows = body.deadLetters.map((d) =>
      el(
        'tr',
        { 'data-id': d.id },
        el('td', {}, fmtTime(d.deadAt)),
        el('td', {}, el('code', {}, d.id)),
        el('td', {}, d.name),
        el('td', {}, d.error ? d.error.type + ': ' + d.error.message : '—'),
        el('td', {}, d.retries),
        el('td', {}, d.reason || '—'),
        el('td', {}, el('button', { type: 'button', onclick: () => redrive(queue, [d.id]) }, 'Re-drive')),
      ),
    );
    table.querySelector('tbody').replaceChildren(...rows);
    table.hidden = rows.length === 0;
    redriveAll.disabled = rows.length === 0;
    message.textContent = rows.length ? rows.length + ' dead letter(s) in ' + queue + '.' : 'No dead letters in ' + queue + '.';
  }

  async function redrive(queue, ids) {
    const message = $('#dead-message');
    let done;
    try {
      const body = await api('dead-letters/redrive', { method: 'POST', json: ids ? { queue, ids } : { queue } });
      done = 'Re-drove ' + body.redriven + ' task(s).';
    } catch (err) {
      message.textContent = 'Re-drive failed: ' + err.message;
      return;
    }
    await loadDeadLetters();
    // The reload rewrites the message: keep what the re-drive did in front of it.
    message.textContent = done + ' ' + message.textContent;
  }

  $('#dead-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void loadDeadLetters();
  });
  $('#redrive-all').addEventListener('click', () => {
    const queue = $('#dead-form select').value;
    if (queue && window.confirm('Re-drive every dead letter of ' + queue + '?')) void redrive(queue, undefined);
  });

  // ---- Refresh loop ----------------------------------------------------------------------
  async function refresh() {
    const results = await Promise.allSettled([refreshQueues(), refreshWorkers(), search.cursor ? Promise.resolve() : loadTasks()]);
    const failed = results.find((r) => r.status === 'rejected');
    statusEl.textContent = failed ? 'update failed: ' + failed.reason.message : 'updated ' + new Date().toLocaleTimeString();
    if (!failed && banner.textContent && !banner.hidden && !/^Not /.test(banner.textContent)) banner.hidden = true;
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  }

  search.params = searchParams();
  void refresh();
  setInterval(() => void refresh(), REFRESH_MS);
})();
