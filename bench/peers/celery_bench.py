# Python Celery peer for `npm run bench` (the bench starts it; run with /usr/bin/python3, Debian's python3-celery).
#   worker: python3 -m celery -A celery_bench worker -Q $BENCH_QUEUE -P prefork -c 2   (BENCH_PROFILE=strict|tuned)
#   client: python3 celery_bench.py async <seconds> | rpc <callers> <seconds>   -> one JSON line on stdout
import collections
import json
import os
import sys
import time

from celery import Celery

QUEUE = os.environ['BENCH_QUEUE']
PROFILE = os.environ.get('BENCH_PROFILE', 'strict')

app = Celery('celery_bench', broker=os.environ.get('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672'), backend='rpc://')
app.conf.update(
    task_default_queue=QUEUE,
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    # Both profiles keep acks_late: the same guarantee as Celerity (a task is acked after it ran).
    task_acks_late=True,
    worker_prefetch_multiplier=1 if PROFILE == 'strict' else 64,
    broker_connection_retry_on_startup=True,
)

PAD = 'x' * 150  # ~200-byte messages, as Celerity's bench sends


@app.task(name='bench.noop')
def noop(*args):
    return None


@app.task(name='bench.add')
def add(a, b):
    return a + b


def run_async(seconds):
    sent = 0
    started = time.monotonic()
    end = started + seconds
    with app.producer_or_acquire() as producer:
        while time.monotonic() < end:
            for _ in range(100):
                app.send_task('bench.noop', args=[sent, PAD], queue=QUEUE, ignore_result=True, producer=producer)
                sent += 1
    print(json.dumps({'sent': sent, 'seconds': time.monotonic() - started}), flush=True)


def run_rpc(callers, seconds):
    # One thread keeps `callers` requests outstanding: Celery's rpc:// result consumer is not
    # thread-safe, and its get() on one result buffers the replies of the others.
    latencies = []
    outstanding = collections.deque()
    started = time.monotonic()
    end = started + seconds
    while time.monotonic() < end or outstanding:
        while time.monotonic() < end and len(outstanding) < callers:
            outstanding.append((time.monotonic(), app.send_task('bench.add', args=[1, 2], queue=QUEUE)))
        t, result = outstanding.popleft()
        result.get(timeout=30)
        latencies.append((time.monotonic() - t) * 1000)
    print(json.dumps({'latencies': latencies, 'seconds': time.monotonic() - started}), flush=True)


if __name__ == '__main__':
    mode = sys.argv[1]
    if mode == 'async':
        run_async(float(sys.argv[2]))
    elif mode == 'rpc':
        run_rpc(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit('usage: celery_bench.py async <seconds> | rpc <callers> <seconds>')
