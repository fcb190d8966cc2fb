/**
 * The scheduler's Prometheus metrics, on the registry of the process that runs it (a worker
 * started with --beat, or `celerity beat`). Labels stay bounded: the task name, never the
 * schedule's name (one schedule per customer would make a series each); logs name the schedule.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { WAIT_BUCKETS } from '../core/index.js';

export class BeatMetrics {
  readonly fires: Counter<'task' | 'kind'>;
  readonly skipped: Counter<'task' | 'reason'>;
  readonly missed: Counter<'task'>;
  readonly leaderChanges: Counter<'change'>;
  readonly leader: Gauge;
  readonly delay: Histogram<'kind'>;
  readonly errors: Counter<'step'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.fires = new Counter({ name: 'celerity_beat_fires_total', help: 'Scheduled runs published (broker confirmed), by task and kind (scheduled, trigger, backfill)', labelNames: ['task', 'kind'], registers });
    this.skipped = new Counter({
      name: 'celerity_beat_runs_skipped_total',
      help: 'Runs not fired: overlap (the previous run had not finished), catch-up (policy once or skip), unknown-task, invalid',
      labelNames: ['task', 'reason'],
      registers,
    });
    this.missed = new Counter({ name: 'celerity_beat_runs_missed_total', help: "Runs older than their schedule's catch-up window when a leader got to them", labelNames: ['task'], registers });
    this.leaderChanges = new Counter({ name: 'celerity_beat_leader_changes_total', help: 'This process took (acquired), lost (lost) or gave up (released) the scheduler lease', labelNames: ['change'], registers });
    this.leader = new Gauge({ name: 'celerity_beat_leader', help: '1 while this process holds the scheduler lease', registers });
    this.delay = new Histogram({ name: 'celerity_beat_fire_delay_seconds', help: "From a run's scheduled time to its publish confirmed", labelNames: ['kind'], buckets: WAIT_BUCKETS, registers });
    this.errors = new Counter({ name: 'celerity_beat_errors_total', help: 'Scheduler ticks or publishes that failed (retried on the next tick)', labelNames: ['step'], registers });
    for (const change of ['acquired', 'lost', 'released']) this.leaderChanges.inc({ change }, 0);
    this.leader.set(0);
  }
}
