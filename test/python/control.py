"""Drives Python Celery's remote control (`app.control`) against running workers: reads a JSON
list of operations on stdin and prints one JSON document on stdout, the list of their results.

  echo '[{"op": "inspect", "method": "ping", "destination": ["celerity@host:1"], "timeout": 5}]' \
    | /usr/bin/python3 control.py

Operations:
  {"op": "inspect", "method": "ping|active|...", "destination": [...], "timeout": s}
      → what `app.control.inspect(destination=..., timeout=...).<method>()` returns (None: no reply)
  {"op": "control", "method": "add_consumer|cancel_consumer|pool_grow|...", "args": [...], "kwargs": {...}}
      → what `app.control.<method>(*args, **kwargs)` returns (a list of replies with reply=True)
"""
import json
import sys

from celery_app import app


def run(operation):
    if operation['op'] == 'inspect':
        inspect = app.control.inspect(destination=operation.get('destination'), timeout=operation.get('timeout', 1.0))
        return getattr(inspect, operation['method'])()
    if operation['op'] == 'control':
        return getattr(app.control, operation['method'])(*operation.get('args', []), **operation.get('kwargs', {}))
    raise ValueError(f"unknown op {operation['op']!r}")


def main():
    operations = json.load(sys.stdin)
    print(json.dumps([run(operation) for operation in operations]))


if __name__ == '__main__':
    main()
