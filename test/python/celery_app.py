"""A Python Celery 5 app for Celerity's interoperability tests (and a worked example of
docs/celery.md's settings). Run with Debian's interpreter, /usr/bin/python3.

  CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672// \
    /usr/bin/python3 -m celery -A celery_app worker -Q <queue> --pool solo -l info

The tasks below are implemented in Python, under the names of Celerity's demo tasks (and
one Python-only task), so a Celerity gateway can send them to a Python worker.
"""
import os
import threading
import time

from celery import Celery
from celery.signals import worker_ready

app = Celery('celerity_interop')
app.conf.update(
    broker_url=os.environ.get('CELERY_BROKER_URL', 'amqp://guest:guest@127.0.0.1:5672//'),
    result_backend='rpc://',
    # Protocol v2 and JSON: what Celerity reads and writes.
    task_protocol=2,
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    # Celerity's delivery guarantee: ack after the task ran, one message per worker slot.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    # The client's rpc:// reply queue is deleted by the broker a minute after it is unused.
    result_expires=60,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name='demo.add')
def add(a, b):
    return a + b


@app.task(name='demo.echo')
def echo(*args, **kwargs):
    return {'args': list(args), 'kwargs': kwargs}


@app.task(name='demo.fail')
def fail(message):
    raise ValueError(message)


@app.task(name='py.describe')
def describe(*args, **kwargs):
    """A task only Python implements: what it received, and which runtime ran it."""
    return {'runtime': 'python', 'args': list(args), 'kwargs': kwargs}


def _exit_with_parent(parent_pid):
    # The test that started this worker may die without killing it: never outlive it.
    while True:
        if os.getppid() != parent_pid:
            os._exit(3)
        time.sleep(0.5)


@worker_ready.connect
def _on_ready(**_):
    parent = os.environ.get('CELERITY_TEST_PARENT_PID')
    if parent:
        threading.Thread(target=_exit_with_parent, args=(int(parent),), daemon=True).start()
