/**
 * The scheduler ("beat", as Celery names it), run by `celerity beat` and by workers started with
 * `--beat`. Every process runs the same loop; only the holder of the leader lease (leader-lease.ts)
 * fires. Each tick of the leader, in order:
 *
 *   renew the lease → plan each schedule's due runs (plan.ts) → record each run (keyed by
 *   schedule and time, under the lease's fencing token) → publish the runs recorded and not yet
 *   confirmed, the operators' triggers and backfills, and held runs whose turn came
 *
 * A process that loses the lease stops firing at once; one that finds it lapsed takes it on its
 * next tick, so a dead leader is replaced within `leaseMs + tickMs`.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/index.js';
import type { ScheduleDefinition } from '../app/index.js';
import type { ClientCore } from '../submit/index.js';
import { LeaderLease, type HeldLease } from './leader-lease.js';
import { BeatMetrics } from './metrics.js';
import { planRuns } from './plan.js';
import { publishRun } from './publish-run.js';
import { schedulesInForce, type ScheduleInForce } from './schedule-set.js';
import { ScheduleStore, type FireRow } from './schedule-store.js';

export interface BeatOptions {
  pool: pg.Pool;
  /** The submit path runs are published through (its catalogue: the tasks runs may name). */
  core: ClientCore;
  /** The app module's schedules. */
  schedules: readonly ScheduleDefinition[];
  logger: Logger;
  /** Where `celerity_beat_*` go. @default no metrics */
  registry?: Registry;
  /** This process in the lease. @default `beat@<host>:<pid>` */
  name?: string;
  /** How long the lease lasts unrenewed, in ms: a dead leader's successor fires within it plus `tickMs`. @default 10_000 */
  leaseMs?: number;
  /** How often every process ticks, in ms (the leader renews its lease each tick). @default 1_000 */
  tickMs?: number;
  /** How long settled runs are kept, in hours. @default 168 (7 days) */
  fireRetentionHours?: number;
}

/** Most open runs published in one tick. */
const OPEN_FIRES_PER_TICK = 500;

export class Beat {
  readonly name: string;
  readonly leaseMs: number;
  readonly tickMs: number;
  readonly #store: ScheduleStore;
  readonly #lease: LeaderLease;
  readonly #metrics: BeatMetrics | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #lastSweep = 0;
  readonly #reported = new Set<string>();

  private constructor(private readonly options: BeatOptions) {
    this.name = options.name ?? `beat@${hostname()}:${process.pid}`;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.tickMs = Math.min(options.tickMs ?? 1_000, Math.floor(this.leaseMs / 3));
    this.#store = new ScheduleStore(options.pool);
    this.#lease = new LeaderLease(options.pool, this.name, this.leaseMs);
    this.#metrics = options.registry ? new BeatMetrics(options.registry) : undefined;
  }

  /** Starts the loop (its first tick at once); resolves once the first tick has run. */
  static async create(options: BeatOptions): Promise<Beat> {
    const beat = new Beat(options);
    beat.#ticking = beat.#tick();
    await beat.#ticking;
    beat.#schedule();
    return beat;
  }

  /** Whether this process holds the lease (as of its latest tick). */
  get isLeader(): boolean {
    return this.#lease.held !== undefined;
  }

  #schedule(): void {
    if (this.#closing) return;
    this.#timer = setTimeout(() => {
      this.#ticking = this.#tick().finally(() => this.#schedule());
    }, this.tickMs);
  }

  /** One tick; never rejects (a failure is logged and counted, and the next tick tries again). */
  async #tick(): Promise<void> {
    const { logger } = this.options;
    let held: HeldLease | undefined;
    const was = this.#lease.held;
    try {
      held = await this.#lease.refresh();
    } catch (err) {
      this.#lease.drop();
      this.#metrics?.errors.inc({ step: 'lease' });
      logger.warn('scheduler: cannot reach the lease (not firing until it can)', { beat: this.name, error: String(err) });
    }
    if (held && held.token !== was?.token) {
      this.#metrics?.leaderChanges.inc({ change: 'acquired' });
      logger.info(`scheduler: ${this.name} is now the leader (fencing token ${held.token})`, { beat: this.name, token: held.token });
    } else if (!held && was) {
      this.#metrics?.leaderChanges.inc({ change: 'lost' });
      logger.warn(`scheduler: ${this.name} lost the lease (token ${was.token}); another process leads`, { beat: this.name, token: was.token });
    }
    this.#metrics?.leader.set(held ? 1 : 0);
    if (!held) return;
    try {
      await this.#lead(held);
    } catch (err) {
      this.#metrics?.errors.inc({ step: 'tick' });
      logger.error('scheduler: tick failed (retried on the next tick)', { beat: this.name, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  }

  async #lead(held: HeldLease): Promise<void> {
    const store = this.#store;
    const app = this.options.schedules;
    const now = new Date();
    const rows = await store.list();
    const known = new Set(rows.map((r) => r.name));
    if (app.some((s) => !known.has(s.name))) await store.addAppSchedules(app.map((s) => s.name).filter((n) => !known.has(n)));
    const schedules = schedulesInForce(app, rows, now, (name, err) => this.#reportOnce(`invalid:${name}`, `scheduler: stored schedule "${name}" is invalid and not fired: ${String(err)}`));
    const active = schedules.filter((s) => !s.paused);
    const overlapping = active.filter((s) => s.definition.overlap !== 'allow').map((s) => s.definition.name);
    const running = await store.running(overlapping);
    for (const schedule of active) await this.#planAndRecord(held, schedule, now, running.get(schedule.definition.name) ?? { running: false, queued: false });
    await this.#publishOpen(schedules);
    if (Date.now() - this.#lastSweep > 3_600_000) {
      this.#lastSweep = Date.now();
      const deleted = await store.deleteOldFires(this.options.fireRetentionHours ?? 168);
      if (deleted > 0) this.options.logger.info(`scheduler: forgot ${deleted} settled runs past their retention`, { deleted });
    }
  }

  async #planAndRecord(held: HeldLease, schedule: ScheduleInForce, now: Date, state: { running: boolean; queued: boolean }): Promise<void> {
    const { definition } = schedule;
    const { logger } = this.options;
    const plan = planRuns(definition, schedule.lastRunAt ?? schedule.since, now, { lateMs: 2 * this.tickMs + 1_000 });
    const task = definition.task;
    if (plan.missed > 0) {
      this.#metrics?.missed.inc({ task }, plan.missed);
      logger.warn(`scheduler: schedule "${definition.name}" missed ${plan.missed} runs older than its catch-up window (${definition.catchUpWindow})`, { schedule: definition.name, task, missed: plan.missed });
    }
    if (plan.skipped.length > 0) {
      this.#metrics?.skipped.inc({ task, reason: 'catch-up' }, plan.skipped.length);
      logger.info(`scheduler: schedule "${definition.name}" skipped ${plan.skipped.length} late runs (catchUp ${definition.catchUp})`, { schedule: definition.name, task, skipped: plan.skipped.length });
    }
    for (const scheduledAt of plan.fire) {
      let fire: { state: 'pending' | 'queued' | 'skipped'; reason?: string; taskId?: string } = { state: 'pending', taskId: randomUUID() };
      if (state.running && definition.overlap === 'skip') fire = { state: 'skipped', reason: 'overlap' };
      else if (state.running && definition.overlap === 'queue-one') fire = state.queued ? { state: 'skipped', reason: 'overlap' } : { state: 'queued' };
      const recorded = await this.#store.recordFire(held, { schedule: definition.name, scheduledAt, ...fire });
      if (!recorded) continue; // fired before (this run is done), or the lease moved on (the next tick notices)
      if (fire.state === 'skipped') {
        this.#metrics?.skipped.inc({ task, reason: 'overlap' });
        logger.info(`scheduler: schedule "${definition.name}" skipped its run of ${scheduledAt.toISOString()}: the previous run has not finished (overlap skip)`, { schedule: definition.name, task, scheduledAt });
      } else if (fire.state === 'queued') {
        state.queued = true;
        logger.info(`scheduler: schedule "${definition.name}" holds its run of ${scheduledAt.toISOString()} until the previous run finishes (overlap queue-one)`, { schedule: definition.name, task, scheduledAt });
      } else {
        state.running = true;
      }
    }
    if (plan.handledUntil) await this.#store.advanceLastRun(definition.name, plan.handledUntil);
  }

  /** Publishes the runs recorded and not yet confirmed (this tick's, a dead leader's, triggers, backfills) and held runs whose turn came. */
  async #publishOpen(schedules: readonly ScheduleInForce[]): Promise<void> {
    const byName = new Map(schedules.map((s) => [s.definition.name, s]));
    const open = await this.#store.openFires(OPEN_FIRES_PER_TICK);
    for (const fire of open) {
      const schedule = byName.get(fire.schedule);
      if (!schedule) {
        this.#reportOnce(`gone:${fire.schedule}`, `scheduler: a run of "${fire.schedule}" waits, but no such schedule is in force here (deleted, or defined in another app)`);
        continue;
      }
      if (fire.state === 'queued') {
        const freshState = (await this.#store.running([fire.schedule])).get(fire.schedule);
        if (freshState?.running) continue;
        const taskId = randomUUID();
        if (!(await this.#store.releaseQueued(fire.schedule, fire.scheduledAt, taskId))) continue;
        await this.#publish(schedule, { ...fire, state: 'pending', taskId }, false);
        continue;
      }
      await this.#publish(schedule, fire, fire.fencingToken !== this.#lease.held?.token || fire.kind !== 'scheduled');
    }
  }

  async #publish(schedule: ScheduleInForce, fire: FireRow, republish: boolean): Promise<void> {
    const { definition } = schedule;
    const { logger } = this.options;
    if (!fire.taskId) return;
    try {
      const outcome = await publishRun(this.options.core, this.options.core.catalogue, definition, fire.taskId, republish);
      if (outcome.kind === 'refused') {
        await this.#store.markSkipped(fire.schedule, fire.scheduledAt, outcome.reason);
        this.#metrics?.skipped.inc({ task: definition.task, reason: outcome.reason });
        logger.error(`scheduler: schedule "${definition.name}" run of ${fire.scheduledAt.toISOString()} skipped: ${outcome.message}`, { schedule: definition.name, task: definition.task, reason: outcome.reason });
        return;
      }
      await this.#store.markPublished(fire.schedule, fire.scheduledAt);
      this.#metrics?.fires.inc({ task: definition.task, kind: fire.kind });
      this.#metrics?.delay.observe({ kind: fire.kind }, Math.max(0, (Date.now() - fire.scheduledAt.getTime()) / 1000));
      logger.info(`scheduler: fired "${definition.name}" (${fire.kind} run of ${fire.scheduledAt.toISOString()}) as task ${fire.taskId}`, {
        schedule: definition.name,
        task: definition.task,
        taskId: fire.taskId,
        kind: fire.kind,
        scheduledAt: fire.scheduledAt,
      });
    } catch (err) {
      this.#metrics?.errors.inc({ step: 'publish' });
      logger.warn(`scheduler: publishing "${definition.name}" run of ${fire.scheduledAt.toISOString()} failed (retried on the next tick): ${String(err)}`, { schedule: definition.name, task: definition.task });
    }
  }

  #reportOnce(key: string, message: string): void {
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.options.logger.warn(message);
  }

  /** Stops the loop, waits for a tick under way, and gives the lease up. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#ticking;
    const held = this.#lease.held;
    await this.#lease.release().catch((err: unknown) => this.options.logger.warn('scheduler: could not give the lease up (it lapses by itself)', { error: String(err) }));
    if (held) {
      this.#metrics?.leaderChanges.inc({ change: 'released' });
      this.options.logger.info(`scheduler: ${this.name} gave the lease up`, { beat: this.name });
    }
    this.#metrics?.leader.set(0);
  }
}
