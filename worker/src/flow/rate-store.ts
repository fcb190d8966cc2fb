/**
 * Keyed rate limits' rows in PostgreSQL (flow_rates): reserve a start, pause a key, and read the
 * pauses of task types that have no rateLimit (rate-statements.ts). Times are returned as
 * offsets from the database's clock, which the caller adds to its own.
 *
 * Reservations of one key are one row, so their statements take its lock in turn, a commit each:
 * a flood of one key's tasks would be held to the database's commit rate. So the reservations a
 * process asks for while its last one for that key is in flight go together in the next
 * statement: one reservation of their summed cost, shared out in the order they were asked
 * for (what k statements in a row would have given).
 */
import type pg from 'pg';
import { DELETE_IDLE_RATES, PAUSE_RATE, RESERVE_RATE, SELECT_TYPE_PAUSES } from './rate-statements.js';

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

interface Waiting {
  costMs: number;
  resolve: (reservation: Reservation) => void;
  reject: (err: unknown) => void;
}

export class RateStore {
  /** Reservations asked for per key (task and key), not sent yet. */
  readonly #waiting = new Map<string, { task: string; key: string; asks: Waiting[] }>();
  /** Keys with a reservation statement in flight. */
  readonly #sending = new Set<string>();

  constructor(private readonly db: Pick<pg.Pool, 'query'>) {}

  /**
   * Reserves a start for one task of `task`'s `key` costing `costMs`. `held`: the reservation
   * its message carries; undefined back means that one still stands (no pause since).
   */
  reserve(task: string, key: string, costMs: number, held: Date | undefined): Promise<Reservation | undefined> {
    if (held) return this.#reserve(task, key, costMs, held);
    const id = JSON.stringify([task, key]);
    return new Promise<Reservation>((resolve, reject) => {
      const waiting = this.#waiting.get(id) ?? { task, key, asks: [] };
      waiting.asks.push({ costMs, resolve, reject });
      this.#waiting.set(id, waiting);
      // Settles every ask itself and never rejects.
      if (!this.#sending.has(id)) void this.#send(id);
    });
  }

  /** Sends the reservations waiting for key `id`, one statement at a time, until none wait. */
  async #send(id: string): Promise<void> {
    this.#sending.add(id);
    try {
      for (let waiting = this.#waiting.get(id); waiting; waiting = this.#waiting.get(id)) {
        this.#waiting.delete(id);
        const total = waiting.asks.reduce((sum, ask) => sum + ask.costMs, 0);
        try {
          const first = await this.#reserve(waiting.task, waiting.key, total, undefined);
          if (!first) throw new Error('a reservation without a held one returned no row');
          let offsetMs = 0;
          for (const ask of waiting.asks) {
            ask.resolve({ reservedAt: new Date(first.reservedAt.getTime() + offsetMs), inMs: first.inMs + offsetMs });
            offsetMs += ask.costMs;
          }
        } catch (err) {
          for (const ask of waiting.asks) ask.reject(err);
        }
      }
    } finally {
      this.#sending.delete(id);
    }
  }

  async #reserve(task: string, key: string, costMs: number, held: Date | undefined): Promise<Reservation | undefined> {
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

  /** Forgets keys idle since `cutoff` (at most `limit` of them): how many went. */
  async deleteIdle(cutoff: Date, limit = 10_000): Promise<number> {
    const { rowCount } = await this.db.query({ name: 'celerity_delete_idle_rates', text: DELETE_IDLE_RATES, values: [cutoff, limit] });
    return rowCount ?? 0;
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
