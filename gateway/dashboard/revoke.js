// The task detail's admin actions: Revoke (a task not started never runs) and Terminate (a
// running one is stopped too), through POST /api/v1/tasks/{id}/revoke. The gateway decides who
// may (the task's owner key or an admin); the buttons show only for a task not finished yet.
'use strict';

window.celerityRevoke = (function revokeActions() {
  const { api, el } = window.celerityDashboard;
  const FINAL = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

  /**
   * The action bar for task `t`, or null when it is finished. `onDone(task)` gets the task as the
   * revoke left it; `onError(message)` a refusal.
   */
  function actions(t, onDone, onError) {
    if (FINAL.has(t.state)) return null;
    const status = el('span', { class: 'revoke-status', role: 'status' });
    const act = async (terminate) => {
      const what = terminate ? 'Terminate' : 'Revoke';
      const warning = terminate ? ' If it is running it is stopped now.' : ' If it has not started it never will.';
      if (!window.confirm(what + ' task ' + t.id + '?' + warning)) return;
      for (const button of bar.querySelectorAll('button')) button.disabled = true;
      status.textContent = what + '…';
      try {
        onDone(await api('tasks/' + encodeURIComponent(t.id) + '/revoke', { method: 'POST', json: { terminate } }));
      } catch (err) {
        for (const button of bar.querySelectorAll('button')) button.disabled = false;
        status.textContent = '';
        onError(what + ' failed: ' + err.message);
      }
    };
    const bar = el(
      'p',
      { class: 'task-actions' },
      el('button', { type: 'button', 'data-action': 'revoke', onclick: () => void act(false) }, 'Revoke'),
      ' ',
      el('button', { type: 'button', 'data-action': 'terminate', class: 'danger', onclick: () => void act(true) }, 'Terminate'),
      ' ',
      status,
    );
    return bar;
  }

  return { actions };
})();
