/**
 * The scheduler's tables (migration 8) behind typed methods: schedules' state and stored
 * definitions, runs (fires), the leader lease. Statements in sql.ts.
 */
import type pg from 'pg';
import * as sql from './sql.js';

type FireKind = 'scheduled' | 'trigger' | 'backfill';
export type FireState = 'pending' | 'published' | 'queued' | 'skipped';

export interface ScheduleRow {
  name: string;
  source: 'app' | 'api';
  /** The stored definition (as the API took it) of a schedule created at run time. */
  definition: Record<string, unknown> | null;
  paused: boolean;
  lastRunAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface FireRow {
  schedule: string;
  scheduledAt: Date;
  kind: FireKind;
  state: FireState;
  taskId: string | null;
  reason?: string | null;
  fencingToken?: string | null;
  recordedAt?: Date;
  publishedAt?: Date | null;
}

interface RawSchedule {
  name: string;
  source: 'app' | 'api';
  definition: Record<string, unknown> | null;
  paused: boolean;
  last_run_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

interface RawFire {
  schedule: string;
  scheduled_at: Date;
  kind: FireKind;
  state: FireState;
  task_id: string | null;
  reason?: string | null;
  fencing_token?: string | null;
  recorded_at?: Date;
  published_at?: Date | null;
}

const scheduleOf = (r: RawSchedule): ScheduleRow => ({
  name: r.name,
  source: r.source,
  definition: r.definition,
  paused: r.paused,
  lastRunAt: r.last_run_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const fireOf = (r: RawFire): FireRow => ({
  schedule: r.schedule,
  scheduledAt: r.scheduled_at,
  kind: r.kind,
  state: r.state,
  taskId: r.task_id,
  ...(r.reason !== undefined ? { reason: r.reason } : {}),
  ...(r.fencing_token !== undefined ? { fencingToken: r.fencing_token } : {}),
  ...(r.recorded_at !== undefined ? { recordedAt: r.recorded_at } : {}),
  ...(r.published_at !== undefined ? { publishedAt: r.published_at } : {}),
});

export class ScheduleStore {
  constructor(private readonly pool: pg.Pool) {}

  async list(): Promise<ScheduleRow[]> {
    return (await this.pool.query<RawSchedule>(sql.SELECT_SCHEDULES)).rows.map(scheduleOf);
  }

  async get(name: string): Promise<ScheduleRow | undefined> {
    const row = (await this.pool.query<RawSchedule>(sql.SELECT_SCHEDULE, [name])).rows[0];
    return row ? scheduleOf(row) : undefined;
  }

  async addAppSchedules(names: readonly string[]): Promise<void> {
    if (names.length > 0) await this.pool.query(sql.ADD_APP_SCHEDULES, [names]);
  }

  /** False when the name is taken. */
  async insertStored(name: string, definition: Record<string, unknown>, paused: boolean): Promise<boolean> {
    return (await this.pool.query(sql.INSERT_STORED_SCHEDULE, [name, definition, paused])).rowCount === 1;
  }

  async updateStored(name: string, definition: Record<string, unknown>): Promise<boolean> {
    return (await this.pool.query(sql.UPDATE_STORED_SCHEDULE, [name, definition])).rowCount === 1;
  }

  /** Deletes a stored schedule and its runs, in one transaction; false when there is none. */
  async deleteStored(name: string): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const deleted = (await client.query(sql.DELETE_STORED_SCHEDULE, [name])).rowCount === 1;
      if (deleted) await client.query(sql.DELETE_FIRES_OF, [name]);
      await client.query('COMMIT');
      return deleted;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async setPaused(name: string, source: 'app' | 'api', paused: boolean): Promise<void> {
    await this.pool.query(sql.SET_PAUSED, [name, paused, source]);
  }

  /**
   * Records regular run `scheduledAt` of `schedule` while `holder` leads under `token`; false
   * when it was recorded before (by this or another leader) or the lease is no longer held.
   */
  async recordFire(lease: { holder: string; token: string }, fire: { schedule: string; scheduledAt: Date; state: FireState; reason?: string; taskId?: string }): Promise<boolean> {
    const { rowCount } = await this.pool.query(sql.RECORD_FIRE, [lease.holder, lease.token, fire.schedule, fire.scheduledAt, fire.state, fire.reason ?? null, fire.taskId ?? null]);
    return rowCount === 1;
  }

  async advanceLastRun(schedule: string, to: Date): Promise<void> {
    await this.pool.query(sql.ADVANCE_LAST_RUN, [schedule, to]);
  }

  /** Asks for runs at `times` (trigger, backfill); returns those recorded (a time recorded before is left out). */
  async requestFires(schedule: string, kind: 'trigger' | 'backfill', times: readonly Date[]): Promise<Array<{ scheduledAt: Date; taskId: string }>> {
    const { rows } = await this.pool.query<{ scheduled_at: Date; task_id: string }>(sql.REQUEST_FIRES, [schedule, kind, times]);
    return rows.map((r) => ({ scheduledAt: r.scheduled_at, taskId: r.task_id })).sort((a, b) => a.scheduledAt.getTime() - b.scheduledAt.getTime());
  }

  async openFires(limit: number): Promise<FireRow[]> {
    return (await this.pool.query<RawFire>(sql.SELECT_OPEN_FIRES, [limit])).rows.map(fireOf);
  }

  async markPublished(schedule: string, scheduledAt: Date): Promise<void> {
    await this.pool.query(sql.MARK_PUBLISHED, [schedule, scheduledAt]);
  }

  async markSkipped(schedule: string, scheduledAt: Date, reason: string): Promise<void> {
    await this.pool.query(sql.MARK_SKIPPED, [schedule, scheduledAt, reason]);
  }

  /** Turns a held run pending with task id `taskId`; false when it is no longer held. */
  async releaseQueued(schedule: string, scheduledAt: Date, taskId: string): Promise<boolean> {
    return (await this.pool.query(sql.RELEASE_QUEUED, [schedule, scheduledAt, taskId])).rowCount === 1;
  }

  /** For each schedule: whether a run is unfinished (`running`) and whether one is held (`queued`). */
  async running(names: readonly string[]): Promise<Map<string, { running: boolean; queued: boolean }>> {
    const out = new Map<string, { running: boolean; queued: boolean }>();
    if (names.length === 0) return out;
    const { rows } = await this.pool.query<{ schedule: string; running: boolean; queued: boolean }>(sql.SELECT_RUNNING, [names]);
    for (const r of rows) out.set(r.schedule, { running: r.running, queued: r.queued });
    return out;
  }

  async lastFires(names: readonly string[]): Promise<Map<string, FireRow>> {
    const out = new Map<string, FireRow>();
    if (names.length === 0) return out;
    for (const r of (await this.pool.query<RawFire>(sql.SELECT_LAST_FIRES, [names])).rows) out.set(r.schedule, fireOf(r));
    return out;
  }

  async firesOf(schedule: string, limit: number): Promise<FireRow[]> {
    return (await this.pool.query<RawFire>(sql.SELECT_FIRES_OF, [schedule, limit])).rows.map(fireOf);
  }

  async deleteOldFires(retentionHours: number): Promise<number> {
    return (await this.pool.query(sql.DELETE_OLD_FIRES, [retentionHours])).rowCount ?? 0;
  }
}
