/** The worker's Prometheus metrics (names are part of the public contract). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { RUN_TIME_BUCKETS, tasksOf, type KnownTasks } from '../../shared/src/core/index.js';
import { type DeadReason } from '../../shared/src/broker/index.js';

export type Outcome = 'success' | 'failure' | 'retry' | 'rejected' | 'revoked';

const OUTCOMES = ['success', 'failure', 'retry', 'rejected', 'revoked'] as const satisfies readonly Outcome[];
/** Every reason a worker dead-letters a message for (checked exhaustive below). */
const DEAD_REASONS = ['failed', 'delivery-limit', 'malformed', 'unknown-task', 'invalid-arguments'] as const satisfies readonly DeadReason[];
// A DeadReason added in shared/ without being listed here fails to compile.
const deadReasonsListed: [Exclude<DeadReason, (typeof DEAD_REASONS)[number]>] extends [never] ? true : never = true;
void deadReasonsListed;
/** Why an event was not published (worker/src/events.ts). */
const EVENT_DROP_REASONS = ['disconnected', 'backpressure', 'error'] as const;

/**
 * Most (task, queue) pairs given series at 0 on start-up: a worker serving many tasks on many
 * queues gets zeros for each task's own queue first, then as many other pairs as fit.
 */
const MAX_ZERO_PAIRS = 1000;

export class WorkerMetrics {
  readonly tasks: Counter<'task' | 'queue' | 'outcome'>;
  readonly duration: Histogram<'task' | 'queue'>;
  readonly inFlight: Gauge<'queue'>;
  readonly concurrency: Gauge<'queue'>;
  readonly queueWait: Histogram<'task' | 'queue'>;
  readonly eventsDropped: Counter<'reason'>;
  readonly deadLetters: Counter<'task' | 'queue' | 'reason'>;
  readonly revokes: Counter<'terminate'>;
  readonly consuming: Gauge;
  readonly autoscaleDecisions: Counter<'direction' | 'reason'>;
  readonly rateLimitDelays: Counter<'task'>;
  /** Keyed, fleet-wide rate limits (flow/rate-gate.ts): tasks sent to wait for their start or a pause. */
  readonly rateLimitDeferred: Counter<'task'>;
  /** Pauses tasks asked for (ctx.backoff, RateLimitedError). */
  readonly rateLimitPaused: Counter<'task'>;
  /** Per-key concurrency (flow/flow-gate.ts): tasks parked while their key was full, dispatched when a slot freed, superseded by a strategy. */
  readonly flow: { parked: Counter<'task'>; dispatched: Counter<'task'>; superseded: Counter<'task'> };
  /** Tasks a finished task's canvas sent (follow step), by kind: chain, link, errback, chord-body. */
  readonly canvasSends: Counter<'kind'>;
  #isConsuming: () => boolean = () => false;

  constructor(readonly registry: Registry) {
    this.tasks = new Counter({
      name: 'celerity_worker_tasks_total',
      help: 'Tasks this worker finished, by outcome (success, failure, retry, rejected, revoked).',
      labelNames: ['task', 'queue', 'outcome'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'celerity_worker_task_duration_seconds',
      help: 'Time a task ran, from start to result recorded.',
      labelNames: ['task', 'queue'],
      buckets: RUN_TIME_BUCKETS,
      registers: [registry],
    });
    this.inFlight = new Gauge({
      name: 'celerity_worker_tasks_in_flight',
      help: 'Tasks received and not yet acknowledged.',
      labelNames: ['queue'],
      registers: [registry],
    });
    this.concurrency = new Gauge({
      name: 'celerity_worker_concurrency',
      help: 'Tasks this worker runs at once (its prefetch), per consumed queue.',
      labelNames: ['queue'],
      registers: [registry],
    });
    this.queueWait = new Histogram({
      name: 'celerity_worker_task_queue_wait_seconds',
      help: 'Time a task waited in the broker, from publish (or eta) to the worker starting it; messages without a publish time are not observed.',
      labelNames: ['task', 'queue'],
      buckets: QUEUE_WAIT_BUCKETS,
      registers: [registry],
    });
    const isConsuming = (): boolean => this.#isConsuming();
    this.consuming = new Gauge({
      name: 'celerity_worker_consuming',
      help: '1 while the worker is subscribed to its queues, 0 while it is not (channel lost and not reopened yet, draining).',
      registers: [registry],
      collect() {
        this.set(isConsuming() ? 1 : 0);
      },
    });
    this.eventsDropped = new Counter({
      name: 'celerity_worker_events_dropped_total',
      help: 'Worker/task events not published (no channel, or the channel pushed back); events are advisory.',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.deadLetters = new Counter({
      name: 'celerity_worker_dead_letters_total',
      help: 'Messages this worker published to a dead-letter queue (<queue>.dead), by the queue they came from and why (failed, delivery-limit, malformed, unknown-task, invalid-arguments).',
      labelNames: ['task', 'queue', 'reason'],
      registers: [registry],
    });
    this.autoscaleDecisions = new Counter({
      name: 'celerity_worker_autoscale_decisions_total',
      help: 'Concurrency changes the autoscaler made, by direction (grow, shrink) and reason (backlog, idle, bounds).',
      labelNames: ['direction', 'reason'],
      registers: [registry],
    });
    this.rateLimitDelays = new Counter({
      name: 'celerity_worker_rate_limit_delays_total',
      help: "Task starts this worker delayed to keep within the task's rate limit (Worker.setRateLimit, Celery's rate_limit).",
      labelNames: ['task'],
      registers: [registry],
    });
    this.rateLimitDeferred = new Counter({
      name: 'celerity_rate_limit_deferred_total',
      help: "Tasks this worker sent round the delay queues to wait for their key's rate limit (defineTask's rateLimit) or a pause of their key; each wait counts.",
      labelNames: ['task'],
      registers: [registry],
    });
    this.rateLimitPaused = new Counter({
      name: 'celerity_rate_limit_paused_total',
      help: "Pauses of a task's rate key that its tasks asked for on this worker (ctx.backoff, RateLimitedError).",
      labelNames: ['task'],
      registers: [registry],
    });
    this.flow = {
      parked: new Counter({
        name: 'celerity_worker_flow_parked_total',
        help: 'Tasks this worker parked in PostgreSQL because their concurrency key was full (strategy queue or cancel-in-progress).',
        labelNames: ['task'],
        registers: [registry],
      }),
      dispatched: new Counter({
        name: 'celerity_worker_flow_dispatched_total',
        help: 'Waiting tasks this worker published back onto their queue when a slot of their concurrency key freed.',
        labelNames: ['task'],
        registers: [registry],
      }),
      superseded: new Counter({
        name: 'celerity_worker_flow_superseded_total',
        help: 'Tasks whose concurrency key was full that this worker dropped (cancel-newest) or that revoked older ones (cancel-in-progress).',
        labelNames: ['task'],
        registers: [registry],
      }),
    };
    this.revokes = new Counter({
      name: 'celerity_worker_revokes_total',
      help: 'Task revokes this worker learned of (broadcast, the store, its own), each id once; terminate: whether it asked to stop a running task.',
      labelNames: ['terminate'],
      registers: [registry],
    });
    for (const terminate of ['true', 'false']) this.revokes.inc({ terminate }, 0);
    this.canvasSends = new Counter({
      name: 'celerity_worker_canvas_sends_total',
      help: "Tasks sent by a finished task's canvas: the next chain step, a link, an errback, a chord's body (a chord body sent again after a crash counts again).",
      labelNames: ['kind'],
      registers: [registry],
    });
    for (const reason of EVENT_DROP_REASONS) this.eventsDropped.inc({ reason }, 0);
    for (const kind of CANVAS_SEND_KINDS) this.canvasSends.inc({ kind }, 0);
  }

  /**
   * Gives every counter and gauge a series at 0 for the label values known at start-up: each
   * consumed queue, and each (task, queue) pair of the catalogue's tasks on those queues, with
   * every outcome and dead-letter reason. Without them `rate()` and `increase()` see nothing
   * (not 0) until the first increment, which they also miss.
   */
  startAtZero(catalogue: KnownTasks, queues: readonly string[], concurrency: number): void {
    for (const queue of queues) {
      this.concurrency.set({ queue }, concurrency);
      this.inFlight.set({ queue }, 0);
    }
    for (const { name } of tasksOf(catalogue)) {
      this.rateLimitDelays.inc({ task: name }, 0);
      this.rateLimitDeferred.inc({ task: name }, 0);
      this.rateLimitPaused.inc({ task: name }, 0);
      for (const counter of Object.values(this.flow)) counter.inc({ task: name }, 0);
    }
    for (const { task, queue } of zeroPairs(tasksOf(catalogue), queues)) {
      for (const outcome of OUTCOMES) this.tasks.inc({ task, queue, outcome }, 0);
      for (const reason of DEAD_REASONS) this.deadLetters.inc({ task, queue, reason }, 0);
    }
  }

  /** Where celerity_worker_consuming reads its value when scraped. */
  watchConsuming(probe: () => boolean): void {
    this.#isConsuming = probe;
  }
}

/** (task, queue) pairs for the zeros: each task on its own queue first, then the other consumed queues. */
function zeroPairs(tasks: ReadonlyArray<{ name: string; queue: string }>, queues: readonly string[]): Array<{ task: string; queue: string }> {
  const own = tasks.filter((t) => queues.includes(t.queue)).map((t) => ({ task: t.name, queue: t.queue }));
  const others = tasks.flatMap((t) => queues.filter((q) => q !== t.queue).map((queue) => ({ task: t.name, queue })));
  return [...own, ...others].slice(0, MAX_ZERO_PAIRS);
}

/** The `kind` label of celerity_worker_canvas_sends_total (bounded). */
export const CANVAS_SEND_KINDS = ['chain', 'link', 'errback', 'chord-body'] as const;

/** Queue waits run from milliseconds (idle workers) to hours (a backlog) or a day (an old eta). */
const QUEUE_WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];
