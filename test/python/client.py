"""Drives Python Celery as a client of Celerity workers: reads a JSON list of calls on stdin,
sends each with `app.send_task`, waits for its result over rpc://, and prints one JSON document
on stdout: a list with, per call, either {"ok": true, "id", "result", "state"} or
{"ok": false, "id", "state", "exc_type", "exc_module", "exc_args", "message"}.

  echo '[{"task": "demo.add", "args": [1, 2], "queue": "demo"}]' | /usr/bin/python3 client.py

Call fields: task, args, kwargs, queue, task_id (optional), timeout (seconds, default 30),
expires (seconds from now; negative = already expired).
"""
import datetime
import json
import sys

from celery_app import app


def run(call):
    options = {'queue': call['queue']}
    if call.get('task_id'):
        options['task_id'] = call['task_id']
    if call.get('expires') is not None:
        options['expires'] = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=call['expires'])
    result = app.send_task(call['task'], args=call.get('args', []), kwargs=call.get('kwargs', {}), **options)
    try:
        value = result.get(timeout=call.get('timeout', 30))
        return {'ok': True, 'id': result.id, 'state': result.state, 'result': value}
    except Exception as exc:  # noqa: BLE001 - the test inspects whatever Celery raised
        return {
            'ok': False,
            'id': result.id,
            'state': result.state,
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
