import { submitTask, watchTask } from './client.js';

const params = new URLSearchParams(location.search);
// The gateway's URL (default: the origin this page came from) and, optionally, the queue.
const gateway = params.get('gateway') ?? '';
const queue = params.get('queue');

const $ = (id) => document.getElementById(id);

$('run').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('error').textContent = '';
  const steps = Number($('steps').value);
  const stepMs = Number($('step-ms').value);
  try {
    const task = await submitTask(gateway, 'demo.progress', [steps], { stepMs }, queue ? { queue } : {});
    show(task);
    watchTask(gateway, task.id, {
      state: show,
      progress: ({ fraction, message }) => {
        $('bar').value = fraction;
        $('bar').dataset.fraction = String(fraction);
        $('message').textContent = message ?? '';
      },
      output: ({ chunk }) => {
        $('output').textContent += chunk;
      },
      error: (err) => {
        $('error').textContent = String(err.message ?? err);
      },
    });
  } catch (err) {
    $('error').textContent = String(err.message ?? err);
  }
});

function show(task) {
  $('task').hidden = false;
  $('task-id').textContent = task.id;
  $('state').textContent = task.state;
  $('state').dataset.state = task.state;
  if (task.state === 'SUCCESS') {
    $('bar').value = 1;
    $('result').textContent = JSON.stringify(task.result);
  } else if (task.state === 'FAILURE') {
    $('result').textContent = `${task.error?.type}: ${task.error?.message}`;
  }
}
