// Workflows on the operators' dashboard (loaded after lib.js, before app.js): a task's detail
// links to the workflows it belongs to, and a workflow's view lists its tasks in order with
// their states, each linked back to the task's detail. Nothing runs until app.js calls it.
'use strict';

window.celerityWorkflows = (function workflows() {
  const { api, el, json, fmtTime } = window.celerityDashboard;
  const $ = (selector) => document.querySelector(selector);

  /** Adds a "workflow" field to the task detail when the task belongs to one. */
  async function linkTask(taskId, showTask) {
    let body;
    try {
      body = await api('workflows?taskId=' + encodeURIComponent(taskId));
    } catch {
      return; // no access to workflows, or none: the task detail stands alone
    }
    if (!body.workflows.length || $('#detail-id').textContent !== taskId) return;
    const links = body.workflows.map((w) =>
      el('a', { href: '#workflow-detail', 'data-workflow': w.id, onclick: () => void showWorkflow(w.id, showTask) }, w.kind + ' ' + w.id + ' (' + w.state + ')'),
    );
    $('#detail-fields').append(el('dt', {}, 'workflow'), el('dd', { 'data-field': 'workflow' }, ...links));
  }

  async function showWorkflow(id, showTask) {
    const panel = $('#workflow-detail');
    panel.hidden = false;
    $('#workflow-id').textContent = id;
    let w;
    try {
      w = await api('workflows/' + encodeURIComponent(id));
    } catch (err) {
      $('#workflow-fields').replaceChildren(el('dt', {}, 'error'), el('dd', { class: 'offline' }, err.message));
      $('#workflow-tasks tbody').replaceChildren();
      return;
    }
    const fields = [
      ['kind', w.kind],
      ['state', el('span', { class: 'state-' + w.state }, w.state)],
      ['created', fmtTime(w.createdAt)],
      ['finished', fmtTime(w.finishedAt)],
      w.error ? ['error', json(w.error)] : ['result', json(w.result)],
    ];
    $('#workflow-fields').replaceChildren(...fields.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-field': k }, v)]));
    const rows = w.tasks.map((t) =>
      el(
        'tr',
        { 'data-id': t.id },
        el('td', {}, String(t.position)),
        el('td', {}, t.role),
        el('td', {}, el('a', { href: '#task-detail', onclick: () => void showTask(t.id) }, t.id)),
        el('td', {}, t.name),
        el('td', {}, el('span', { class: 'state-' + t.state }, t.state)),
      ),
    );
    $('#workflow-tasks tbody').replaceChildren(...rows);
  }

  return { linkTask, showWorkflow };
})();
