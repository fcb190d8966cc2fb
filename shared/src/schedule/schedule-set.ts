/**
 * The schedules in force: the app module's (their definition in code, their state in a row the
 * leader adds) and those created at run time (definition and state stored). One function, for
 * the leader, the gateway's listing and the client.
 */
import { checkSchedule, type ScheduleConfig, type ScheduleDefinition } from '../app/index.js';
import type { ScheduleRow } from './schedule-store.js';

export interface ScheduleInForce {
  definition: ScheduleDefinition;
  source: 'app' | 'api';
  paused: boolean;
  /** The latest regular run handled; null before the first. */
  lastRunAt: Date | null;
  /** When the schedule started counting runs (its row's creation, or now before the leader added it). */
  since: Date;
}

/**
 * Merges `app` with the stored rows. A stored row under an app schedule's name is that schedule's
 * state; a stored definition that no longer passes the checks is reported through `invalid`.
 */
export function schedulesInForce(app: readonly ScheduleDefinition[], rows: readonly ScheduleRow[], now: Date, invalid?: (name: string, err: unknown) => void): ScheduleInForce[] {
  const byName = new Map(rows.map((row) => [row.name, row]));
  const out: ScheduleInForce[] = app.map((definition) => {
    const row = byName.get(definition.name);
    return { definition, source: 'app', paused: row?.paused ?? false, lastRunAt: row?.lastRunAt ?? null, since: row?.createdAt ?? now };
  });
  const appNames = new Set(app.map((s) => s.name));
  for (const row of rows) {
    if (row.source !== 'api' || appNames.has(row.name) || row.definition === null) continue;
    try {
      const definition = checkSchedule({ ...(row.definition as unknown as ScheduleConfig), name: row.name });
      out.push({ definition, source: 'api', paused: row.paused, lastRunAt: row.lastRunAt, since: row.createdAt });
    } catch (err) {
      invalid?.(row.name, err);
    }
  }
  return out;
}
