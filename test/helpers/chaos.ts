/**
 * What the chaos files share: the line each scenario reports (written to
 * test-artifacts/<file>.json) and the count of tasks finished in the store.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { TestContext } from './harness.js';

const ARTIFACTS = resolve(new URL('../../../test-artifacts', import.meta.url).pathname);

/** One scenario's line: submitted / completed / lost / duplicated. */
export interface ChaosRow {
  scenario: string;
  submitted: number;
  completed: number;
  lost: number;
  duplicated: number;
  rejected503: number;
  seconds: number;
  note: string;
}


/** Writes the scenarios' lines to test-artifacts/`file`. */
export async function writeRows(file: string, rows: readonly ChaosRow[]): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await writeFile(join(ARTIFACTS, file), `${JSON.stringify(rows, null, 2)}\n`);
}

/** How many of `ids` are SUCCESS in the store. */
export async function completedCount(ctx: TestContext, ids: readonly string[]): Promise<number> {
  const { rows: r } = await ctx.pool.query<{ n: string }>(`SELECT count(*) AS n FROM tasks WHERE id = ANY($1::text[]) AND state = 'SUCCESS'`, [ids]);
  return Number(r[0]?.n ?? 0);
}
