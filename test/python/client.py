"""Drives Python Celery as a client of Celerity workers: reads a JSON list of calls on stdin,
sends each with `app.send_task`, waits for its result over rpc://, and prints one JSON document
on stdout: a list with, per call, either {"ok": true, "id", "result", "state"} or
{"ok": false, "id", "state", "exc_type", "exc_module", "exc_args", "message"}.

  echo '[{"task": "demo.add", "args": [1, 2], "queue": "demo"}]' | /usr/bin/python3 client.py

Call fields: task, args, kwargs, queue, task_id (optional), timeout (seconds, default 30),
expires (seconds from now), priority, queue_arguments (declare the queue with these, e.g.
{"x-queue-type": "quorum"}), wait (default true; false = send only, {"ok": true, "state": "SENT"}),
delay (true: call it as a Python caller of a task does, `signature.delay(*args, **kwargs)`),
link / link_error ({"task", "args", "task_id"}: signatures sent with `apply_async(link=..., link_error=...)`).

A canvas call instead: {"canvas": "chain" | "group", "queue", "steps": [{"task", "args"}, ...],
"timeout"}: `chain(*steps).apply_async().get()` or `group(steps)().get()`; the outcome's id is the
chain's last task or the group's id, and "ids" lists the group's task ids.
"""
import datetime
import json
import sys

from celery import chain, group
from kombu import Exchange, Queue

from celery_app import app


def signature(step, queue):
    options = {'queue': queue}
    if step.get('task_id'):
        options['task_id'] = step['task_id']
    return app.signature(step['task'], args=step.get('args', []), kwargs=step.get('kwargs', {}), **options)


def run_canvas(call):
    steps = [signature(step, call['queue']) for step in call['steps']]
    try:
        if call['canvas'] == 'chain':
            result = chain(*steps).apply_async()
        else:
            result = group(steps)()
        value = result.get(timeout=call.get('timeout', 120))
        ids = [r.id for r in result.results] if call['canvas'] == 'group' else []
        return {'ok': True, 'id': result.id, 'state': 'SUCCESS', 'result': value, 'ids': ids}
    except Exception as exc:  # noqa: BLE001 - the test inspects whatever Celery raised
        return failure(getattr(locals().get('result'), 'id', None), 'FAILURE', exc)


def run(call):
    if call.get('canvas'):
        return run_canvas(call)
    queue = call['queue']
    if call.get('queue_arguments'):
        queue = Queue(queue, Exchange(queue, 'direct'), routing_key=queue, queue_arguments=call['queue_arguments'])
    options = {'queue': queue}
    if call.get('task_id'):
        options['task_id'] = call['task_id']
    if call.get('priority') is not None:
        options['priority'] = call['priority']
    if call.get('expires') is not None:
        options['expires'] = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=call['expires'])
    if call.get('link'):
        options['link'] = signature(call['link'], call['queue'])
    if call.get('link_error'):
        options['link_error'] = signature(call['link_error'], call['queue'])
    try:
        if call.get('link') or call.get('link_error'):
            result = app.signature(call['task'], args=call.get('args', [])).apply_async(**options)
        elif call.get('delay'):
            result = app.signature(call['task'], options=options).delay(*call.get('args', []), **call.get('kwargs', {}))
        else:
            result = app.send_task(call['task'], args=call.get('args', []), kwargs=call.get('kwargs', {}), **options)
    except Exception as exc:  # noqa: BLE001 - e.g. PRECONDITION_FAILED on an inequivalent queue
        return failure(None, 'NOT_SENT', exc)
    if call.get('wait', True) is False:
        return {'ok': True, 'id': result.id, 'state': 'SENT', 'result': None}
    try:
        value = result.get(timeout=call.get('timeout', 30))
        return {'ok': True, 'id': result.id, 'state': result.state, 'result': value}
    except Exception as exc:  # noqa: BLE001 - the test inspects whatever Celery raised
        return failure(result.id, result.state, exc)


def failure(task_id, state, exc):
    return {
        'ok': False,
        'id': task_id,
        'state': state,
        'exc_type': type(exc).__name__,
        'exc_module': type(exc).__module__,
        'exc_args': [str(a) for a in exc.args],
        'message': str(exc),
    }


def main():
    calls = json.load(sys.stdin)
    out = [run(call) for call in calls]
    json.dump(out, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
