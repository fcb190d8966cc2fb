// The Workers view's admin actions (loads after lib.js): lists the workers that answer Celery's
// remote control (GET /api/v1/workers/live) and sends add/cancel consumer and pool grow/shrink
// to the one chosen. The form is never re-rendered, so what an operator types stays.
'use strict';

(function workersAdmin() {
  const { api, el } = window.celerityDashboard;
  const form = document.querySelector('#worker-admin');
  const result = document.querySelector('#worker-admin-result');
  if (!form) return;

  function say(text, failed) {
    result.textContent = text;
    result.className = failed ? 'hint offline' : 'hint';
  }

  async function listWorkers() {
    const select = form.elements.namedItem('worker');
    const chosen = select.value;
    const body = await api('workers/live');
    select.replaceChildren(
      ...body.workers.map((w) => {
        const slots = w.stats && w.stats.pool ? w.stats.pool['max-concurrency'] : '?';
        return el('option', { value: w.name, selected: w.name === chosen }, w.name + ' (' + slots + ' slots)');
      }),
    );
    say(body.workers.length ? body.workers.length + ' worker(s) answered.' : 'No worker answered.', body.workers.length === 0);
  }

  async function act(action) {
    const worker = form.elements.namedItem('worker').value;
    const queue = form.elements.namedItem('queue').value.trim();
    const n = Number(form.elements.namedItem('n').value || 1);
    if (!worker) return say('Choose a worker first (Ask workers).', true);
    const path = 'workers/' + encodeURIComponent(worker);
    let reply;
    if (action === 'add_consumer' || action === 'cancel_consumer') {
      if (!queue) return say('Name a queue first.', true);
      reply =
        action === 'add_consumer'
          ? await api(path + '/consumers', { method: 'POST', json: { queue } })
          : await api(path + '/consumers/' + encodeURIComponent(queue), { method: 'DELETE', json: {} });
    } else {
      reply = await api(path + '/pool', { method: 'POST', json: action === 'pool_grow' ? { grow: n } : { shrink: n } });
    }
    say(worker + ': ' + (reply.reply && reply.reply.ok ? reply.reply.ok : JSON.stringify(reply.reply)), false);
    return listWorkers();
  }

  form.addEventListener('click', (event) => {
    const action = event.target && event.target.dataset ? event.target.dataset.action : undefined;
    if (!action) return;
    (action === 'refresh' ? listWorkers() : act(action)).catch((err) => say(err.message, true));
  });
  listWorkers().catch((err) => say(err.message, true));
})();
