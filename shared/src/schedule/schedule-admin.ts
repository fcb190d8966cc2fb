/**
 * Schedules at run time, for the HTTP API (admin-only) and the Node client: list them with
 * their last and next runs; create, change and delete stored ones (validated as a submit is:
 * an unknown task is UNKNOWN_TASK, arguments the task refuses INVALID_ARGUMENTS); pause,
 * resume, trigger now and backfill any. Triggers and backfills are recorded as runs for the
 * leader to publish on its next tick.
 */
import type pg from 'pg';
import { CelerityError } from '../core/index.js';
import {
  checkSchedule,
  describeSpec,
  nextRunAfter,
  runsBetween,
  scheduleToJson,
  type Catalogue,
  type ScheduleConfig,
  type ScheduleDefinition,
} from '../app/index.js';
import { assertNoDedupe, prepareSubmission } from '../submit/index.js';
import { currentLeader } from './leader-lease.js';
import { schedulesInForce, type ScheduleInForce } from './schedule-set.js';
import { ScheduleStore, type FireRow } from './schedule-store.js';

/** Most runs one backfill asks for. */
const BACKFILL_MAX_RUNS = 1000;

/** A schedule as the API and the client list it. */
export interface ScheduleView {
  name: string;
  task: string;
  every?: string;
  cron?: string;
  timezone?: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  overlap: string;
  catchUp: string;
  catchUpWindow: string;
  /** `app`: defined in the app module; `api`: created at run time. */
  source: 'app' | 'api';
  paused: boolean;
  /** The latest run published (or being published): its scheduled time, kind and task id. */
  lastRun: { scheduledAt: string; kind: string; taskId: string | null; state: string } | null;
  /** The next regular run; null while paused. */
  nextRunAt: string | null;
}

/** A run as `runs()` lists it. */
export interface RunView {
  scheduledAt: string;
  kind: string;
  state: string;
  reason: string | null;
  taskId: string | null;
  publishedAt: string | null;
}

export type ScheduleChanges = Partial<Omit<ScheduleConfig, 'name'>>;

const runView = (f: FireRow): RunView => ({
  scheduledAt: f.scheduledAt.toISOString(),
  kind: f.kind,
  state: f.state,
  reason: f.reason ?? null,
  taskId: f.taskId,
  publishedAt: f.publishedAt ? f.publishedAt.toISOString() : null,
});

function view(s: ScheduleInForce, last: FireRow | undefined, now: Date): ScheduleView {
  const d = s.definition;
  const from = s.lastRunAt && s.lastRunAt.getTime() > now.getTime() ? s.lastRunAt : now;
  const next = s.paused ? undefined : nextRunAfter(d.spec, from);
  return {
    name: d.name,
    task: d.task,
    ...describeSpec(d.spec),
    args: d.args,
    kwargs: d.kwargs,
    options: d.options,
    overlap: d.overlap,
    catchUp: d.catchUp,
    catchUpWindow: d.catchUpWindow,
    source: s.source,
    paused: s.paused,
    lastRun: last ? { scheduledAt: last.scheduledAt.toISOString(), kind: last.kind, taskId: last.taskId, state: last.state } : null,
    nextRunAt: next ? next.toISOString() : null,
  };
}

export class ScheduleAdmin {
  readonly #store: ScheduleStore;

  constructor(
    private readonly pool: pg.Pool,
    /** The tasks schedules may name (an empty catalogue checks nothing, like a client given no tasks). */
    private readonly catalogue: Catalogue,
    /** The app module's schedules. */
    private readonly app: readonly ScheduleDefinition[],
  ) {
    this.#store = new ScheduleStore(pool);
  }

  async #inForce(): Promise<ScheduleInForce[]> {
    return schedulesInForce(this.app, await this.#store.list(), new Date());
  }

  async #find(name: string): Promise<ScheduleInForce> {
    const found = (await this.#inForce()).find((s) => s.definition.name === name);
    if (!found) throw new CelerityError('SCHEDULE_NOT_FOUND', `No schedule named "${name}"`);
    return found;
  }

  /** Every schedule, by name, with its last and next run. */
  async list(): Promise<ScheduleView[]> {
    const now = new Date();
    const schedules = (await this.#inForce()).sort((a, b) => a.definition.name.localeCompare(b.definition.name));
    const last = await this.#store.lastFires(schedules.map((s) => s.definition.name));
    return schedules.map((s) => view(s, last.get(s.definition.name), now));
  }

  async get(name: string): Promise<ScheduleView> {
    const found = await this.#find(name);
    return view(found, (await this.#store.lastFires([name])).get(name), new Date());
  }

  /** The latest runs of a schedule (most recent first), with their states. */
  async runs(name: string, limit = 50): Promise<RunView[]> {
    await this.#find(name);
    return (await this.#store.firesOf(name, limit)).map(runView);
  }

  /** Who fires the schedules now (the lease holder), if anyone. */
  async leader(): Promise<{ holder: string; since: string; expiresAt: string } | null> {
    const lease = await currentLeader(this.pool);
    return lease ? { holder: lease.holder, since: lease.since.toISOString(), expiresAt: lease.expiresAt.toISOString() } : null;
  }

  /** Checks a definition as a submit is checked; throws the submit's error codes. */
  #validate(config: ScheduleConfig): ScheduleDefinition {
    const definition = checkSchedule(config);
    if (this.catalogue.names().length === 0) return definition;
    const task = this.catalogue.get(definition.task);
    if (!task) throw new CelerityError('UNKNOWN_TASK', `schedule "${definition.name}": unknown task "${definition.task}"`);
    try {
      assertNoDedupe(prepareSubmission(task, { args: definition.args, kwargs: definition.kwargs, options: definition.options }), 'a schedule');
    } catch (err) {
      if (err instanceof CelerityError) throw new CelerityError(err.code, `schedule "${definition.name}": ${err.message}`, { cause: err });
      throw err;
    }
    return definition;
  }

  /** Creates a stored schedule; SCHEDULE_EXISTS when the name is taken. `paused` starts it paused. */
  async create(config: ScheduleConfig & { paused?: boolean }): Promise<ScheduleView> {
    const { paused, ...rest } = config;
    const definition = this.#validate(rest);
    if (this.app.some((s) => s.name === definition.name) || !(await this.#store.insertStored(definition.name, scheduleToJson(definition), paused === true))) {
      throw new CelerityError('SCHEDULE_EXISTS', `A schedule named "${definition.name}" exists already`);
    }
    return this.get(definition.name);
  }

  /** Changes a stored schedule (the fields given replace its own); its runs count from now. */
  async update(name: string, changes: ScheduleChanges): Promise<ScheduleView> {
    const found = await this.#find(name);
    if (found.source === 'app') throw new CelerityError('SCHEDULE_EXISTS', `Schedule "${name}" is defined in the app module: change it there (only pause, resume, trigger and backfill apply)`);
    const merged = { ...scheduleToJson(found.definition), ...changes, name } as Record<string, unknown>;
    if ('cron' in changes) delete merged.every;
    if ('every' in changes) {
      delete merged.cron;
      delete merged.timezone;
    }
    const definition = this.#validate(merged as unknown as ScheduleConfig);
    if (!(await this.#store.updateStored(name, scheduleToJson(definition)))) throw new CelerityError('SCHEDULE_NOT_FOUND', `No schedule named "${name}"`);
    return this.get(name);
  }

  /** Deletes a stored schedule and its runs. */
  async delete(name: string): Promise<void> {
    const found = await this.#find(name);
    if (found.source === 'app') throw new CelerityError('SCHEDULE_EXISTS', `Schedule "${name}" is defined in the app module: remove it there, or pause it`);
    if (!(await this.#store.deleteStored(name))) throw new CelerityError('SCHEDULE_NOT_FOUND', `No schedule named "${name}"`);
  }

  /** Stops firing regular runs; resume counts them from then on (no catch-up for the paused time). */
  async pause(name: string): Promise<ScheduleView> {
    const found = await this.#find(name);
    await this.#store.setPaused(name, found.source, true);
    return this.get(name);
  }

  async resume(name: string): Promise<ScheduleView> {
    const found = await this.#find(name);
    await this.#store.setPaused(name, found.source, false);
    return this.get(name);
  }

  /** Asks for one run now, whatever the overlap policy and even while paused; the leader publishes it on its next tick. */
  async trigger(name: string): Promise<{ scheduledAt: string; taskId: string }> {
    await this.#find(name);
    const [run] = await this.#store.requestFires(name, 'trigger', [new Date()]);
    if (!run) throw new CelerityError('SCHEDULE_EXISTS', `A run of "${name}" was asked for at this very instant: try again`);
    return { scheduledAt: run.scheduledAt.toISOString(), taskId: run.taskId };
  }

  /**
   * Asks for every run of the schedule in `[from, to]` (at most BACKFILL_MAX_RUNS); a time that
   * already has a run is left out, so a backfill repeated fires nothing twice.
   */
  async backfill(name: string, from: Date, to: Date): Promise<Array<{ scheduledAt: string; taskId: string }>> {
    const found = await this.#find(name);
    if (!(from.getTime() <= to.getTime())) throw new CelerityError('INVALID_REQUEST', 'backfill: from must be a date no later than to');
    if (to.getTime() > Date.now()) throw new CelerityError('INVALID_REQUEST', 'backfill: to must not be in the future');
    const { runs, more } = runsBetween(found.definition.spec, new Date(from.getTime() - 1), to, BACKFILL_MAX_RUNS);
    if (more) throw new CelerityError('INVALID_REQUEST', `backfill: the range holds more than ${BACKFILL_MAX_RUNS} runs; ask for a shorter one`);
    const recorded = await this.#store.requestFires(name, 'backfill', runs);
    return recorded.map((r) => ({ scheduledAt: r.scheduledAt.toISOString(), taskId: r.taskId }));
  }
}
