/**
 * Keyed rate limits' rows in PostgreSQL (flow_rates): reserve a start, pause a key, and read the
 * pauses of task types that have no rateLimit. Each call is one statement (rate-statements.ts);
 * times are returned as offsets from the database's clock, which the caller adds to its own.
 */
import type pg from 'pg';
import { PAUSE_RATE, RESERVE_RATE, SELECT_TYPE_PAUSES } from './rate-statements.js';

/** A reservation: when it comes due (the database's time, for the message's header) and in how many ms from now. */
export interface Reservation {
  reservedAt: Date;
  inMs: number;
}

/** What a key's pause left: when it ends and in how many ms from now. */
export interface PauseEnd {
  until: Date;
  inMs: number;
}

export class RateStore {
  constructor(private readonly db: Pick<pg.Pool, 'query'>) {}

  /**
   * Reserves a start for one task of `task`'s `key` costing `costMs`. `held`: the reservation
   * its message carries; undefined back means that one still stands (no pause since).
   */
  async reserve(task: string, key: string, costMs: number, held: Date | undefined): Promise<Reservation | undefined> {
    const { rows } = await this.db.query<{ reserved_at: Date; now: Date }>({
      name: 'celerity_reserve_rate',
      text: RESERVE_RATE,
      values: [task, key, costMs, held ?? null],
    });
    const row = rows[0];
    return row ? { reservedAt: row.reserved_at, inMs: row.reserved_at.getTime() - row.now.getTime() } : undefined;
  }

  /** Pauses `task`'s `key` for `pauseMs` and gives back the run of task `taskId` held by `leaseHolder` (none: nothing to give back). */
  async pause(task: string, key: string, pauseMs: number, taskId: string, leaseHolder: string | undefined): Promise<PauseEnd> {
    const { rows } = await this.db.query<{ paused_until: Date; now: Date }>({
      name: 'celerity_pause_rate',
      text: PAUSE_RATE,
      values: [task, key, pauseMs, taskId, leaseHolder ?? null],
    });
    const row = rows[0];
    if (!row) throw new Error(`pausing ${task} key ${JSON.stringify(key)} returned no row`);
    return { until: row.paused_until, inMs: row.paused_until.getTime() - row.now.getTime() };
  }

  /** The pauses in force of these task types as a whole: ms from now until each ends. */
  async typePauses(tasks: readonly string[]): Promise<Map<string, number>> {
    if (tasks.length === 0) return new Map();
    const { rows } = await this.db.query<{ task_name: string; paused_until: Date; now: Date }>({
      name: 'celerity_type_pauses',
      text: SELECT_TYPE_PAUSES,
      values: [tasks],
    });
    return new Map(rows.map((row) => [row.task_name, row.paused_until.getTime() - row.now.getTime()]));
  }
}
