/**
 * `GET /api/v1/tasks?id=&name=&state=&queue=&from=&to=&limit=&cursor=` — task search over the
 * PostgreSQL store (history survives restarts), newest first, keyset-paged: a page answers
 * `{"tasks": [...], "nextCursor": "..." | null}` and the next page is asked for with
 * `cursor=<nextCursor>` and the same filters. `state` may list several states (comma-separated);
 * `from`/`to` are ISO 8601 times bounding `createdAt` (from inclusive, to exclusive).
 */
import { Router } from 'express';
import { z } from 'zod';
import {
  CelerityError,
  TASK_STATES,
  toRepresentation,
  type TaskState,
} from '../../../shared/src/core/index.js';
import { type TaskCursor, type TaskStore } from '../../../shared/src/store/index.js';

/** Rows per page when `limit` is not given, and the most a caller may ask for. */
const DEFAULT_PAGE = 50;
const MAX_PAGE = 200;

const text = (max: number) => z.string().trim().min(1).max(max).optional();
const time = z
  .string()
  .trim()
  .refine((v) => !Number.isNaN(Date.parse(v)), { message: 'must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z' })
  .transform((v) => new Date(v))
  .optional();

const querySchema = z
  .object({
    id: text(200),
    name: text(200),
    state: z
      .string()
      .trim()
      .transform((v) => v.split(',').map((s) => s.trim().toUpperCase()).filter((s) => s !== ''))
      .refine((states) => states.every((s) => (TASK_STATES as readonly string[]).includes(s)), {
        message: `must be one or more of ${TASK_STATES.join(', ')} (comma-separated)`,
      })
      .transform((states) => states as TaskState[])
      .optional(),
    queue: text(200),
    from: time,
    to: time,
    limit: z
      .string()
      .regex(/^\d+$/, `must be a whole number from 1 to ${MAX_PAGE}`)
      .transform(Number)
      .refine((n) => n >= 1 && n <= MAX_PAGE, `must be a whole number from 1 to ${MAX_PAGE}`)
      .optional(),
    cursor: z.string().max(400).optional(),
  })
  .strict();

/** PostgreSQL's text form of a timestamptz (`2026-01-31 12:00:00.123456+00`), as the cursor carries it. */
const PG_TIMESTAMPTZ = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d{1,6})?([+-]\d\d(:?\d\d(:?\d\d)?)?|Z)?$/;

function encodeCursor(cursor: TaskCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.id]), 'utf8').toString('base64url');
}

function decodeCursor(value: string): TaskCursor {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string') {
      if (PG_TIMESTAMPTZ.test(parsed[0])) return { createdAt: parsed[0], id: parsed[1] };
    }
  } catch {
    // falls through to the error below
  }
  throw new CelerityError('INVALID_REQUEST', 'Invalid cursor: pass the nextCursor of the previous page unchanged');
}

export function taskSearchRoutes(deps: { store: TaskStore }): Router {
  const router = Router();
  router.get('/api/v1/tasks', async (req, res) => {
    const parsed = querySchema.safeParse(req.query);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(query)'}: ${i.message}`).join('; ');
      throw new CelerityError('INVALID_REQUEST', `Invalid search: ${detail}`);
    }
    const q = parsed.data;
    const limit = q.limit ?? DEFAULT_PAGE;
    const page = await deps.store.search({
      limit,
      ...(q.id ? { id: q.id } : {}),
      ...(q.name ? { name: q.name } : {}),
      ...(q.state ? { states: q.state } : {}),
      ...(q.queue ? { queue: q.queue } : {}),
      ...(q.from ? { from: q.from } : {}),
      ...(q.to ? { to: q.to } : {}),
      ...(q.cursor ? { after: decodeCursor(q.cursor) } : {}),
    });
    res.json({ tasks: page.tasks.map(toRepresentation), nextCursor: page.next ? encodeCursor(page.next) : null });
  });
  return router;
}
