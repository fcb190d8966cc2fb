// The dashboard's Schedules view: every schedule (the app module's and those created at run
// time) with its last and next run, who leads the scheduler, and the admin actions pause,
// resume and run now. Reads GET /api/v1/schedules; loaded after lib.js, beside app.js.
'use strict';

(function schedules() {
  const REFRESH_MS = 3000;
  const { api, el, fmtTime } = window.celerityDashboard;
  const $ = (selector) => document.querySelector(selector);

  function when(schedule) {
    if (schedule.every) return 'every ' + schedule.every;
    return 'cron ' + schedule.cron + (schedule.timezone ? ' (' + schedule.timezone + ')' : '');
  }

  async function act(name, action) {
    const message = $('#schedule-message');
    try {
      const body = await api('schedules/' + encodeURIComponent(name) + '/' + action, { method: 'POST', json: {} });
      message.textContent = action === 'trigger' ? 'Asked for a run of ' + name + ': task ' + body.taskId + '.' : name + (action === 'pause' ? ' paused.' : ' resumed.');
    } catch (err) {
      message.textContent = action + ' of ' + name + ' failed: ' + err.message;
    }
    await refresh();
  }

  function row(s) {
    const last = s.lastRun;
    return el(
      'tr',
      { 'data-schedule': s.name },
      el('td', {}, el('code', {}, s.name)),
      el('td', {}, s.task),
      el('td', {}, when(s)),
      el('td', { 'data-field': 'last' }, last ? fmtTime(last.scheduledAt) + ' (' + last.kind + ')' : '—'),
      el('td', { 'data-field': 'next' }, s.paused ? 'paused' : fmtTime(s.nextRunAt)),
      el('td', {}, s.source === 'app' ? 'app module' : 'API'),
      el(
        'td',
        {},
        el('button', { type: 'button', 'data-action': s.paused ? 'resume' : 'pause', onclick: () => act(s.name, s.paused ? 'resume' : 'pause') }, s.paused ? 'Resume' : 'Pause'),
        ' ',
        el('button', { type: 'button', 'data-action': 'trigger', onclick: () => act(s.name, 'trigger') }, 'Run now'),
      ),
    );
  }

  async function refresh() {
    let body;
    try {
      body = await api('schedules');
    } catch (err) {
      $('#schedule-table tbody').replaceChildren(el('tr', {}, el('td', { colSpan: 7, class: 'offline' }, err.message)));
      return;
    }
    const rows = body.schedules.map(row);
    $('#schedule-table tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colSpan: 7 }, 'No schedules: define them with defineSchedule in the app module, or create them through the API.'))]));
    $('#schedule-leader').textContent = body.leader
      ? 'Fired by ' + body.leader.holder + ', leader since ' + fmtTime(body.leader.since) + '.'
      : 'No scheduler leads now: start one with celerity beat or celerity worker --beat.';
  }

  void refresh();
  setInterval(() => void refresh(), REFRESH_MS);
})();
