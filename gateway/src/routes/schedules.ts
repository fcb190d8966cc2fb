/**
 * Schedules over HTTP (admin-only: the API policy closes every /api route it does not name):
 * list them with their last and next runs, create, change and delete those stored at run time,
 * pause, resume, trigger now, backfill a past range. The Node client does the same through the
 * same ScheduleAdmin (shared/src/schedule/schedule-admin.ts); docs/schedules.md describes it.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import { CelerityError } from '../../../shared/src/core/index.js';
import type { ScheduleAdmin } from '../../../shared/src/schedule/index.js';

export interface ScheduleRoutesDeps {
  /** Absent: the routes answer 404 like any unknown route. */
  schedules?: ScheduleAdmin;
}

const definitionFields = {
  task: z.string().min(1),
  every: z.string().optional(),
  cron: z.string().optional(),
  timezone: z.string().optional(),
  args: z.array(z.unknown()).optional(),
  kwargs: z.record(z.string(), z.unknown()).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
  overlap: z.enum(['allow', 'skip', 'queue-one']).optional(),
  catchUp: z.enum(['once', 'all', 'skip']).optional(),
  catchUpWindow: z.string().optional(),
};
const createSchema = z.object({ name: z.string(), paused: z.boolean().optional(), ...definitionFields }).strict();
const updateSchema = z.object({ ...definitionFields, task: definitionFields.task.optional() }).strict();
const backfillSchema = z.object({ from: z.iso.datetime({ offset: true }), to: z.iso.datetime({ offset: true }) }).strict();

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    throw new CelerityError('INVALID_REQUEST', `Invalid request body: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

const nameOf = (req: Request): string => String(req.params.name);

export function scheduleRoutes(deps: ScheduleRoutesDeps): Router {
  const router = Router();
  const admin = deps.schedules;
  if (!admin) return router;

  router.get('/api/v1/schedules', async (_req, res) => {
    const [schedules, leader] = await Promise.all([admin.list(), admin.leader()]);
    res.json({ schedules, leader });
  });

  router.post('/api/v1/schedules', async (req, res) => {
    const created = await admin.create(parse(createSchema, req.body));
    res.status(201).location(`/api/v1/schedules/${encodeURIComponent(created.name)}`).json(created);
  });

  router.get('/api/v1/schedules/:name', async (req, res) => {
    const name = nameOf(req);
    const [schedule, runs] = await Promise.all([admin.get(name), admin.runs(name)]);
    res.json({ ...schedule, runs });
  });

  router.patch('/api/v1/schedules/:name', async (req, res) => {
    res.json(await admin.update(nameOf(req), parse(updateSchema, req.body)));
  });

  router.delete('/api/v1/schedules/:name', async (req, res) => {
    await admin.delete(nameOf(req));
    res.status(204).end();
  });

  router.post('/api/v1/schedules/:name/pause', async (req, res) => {
    res.json(await admin.pause(nameOf(req)));
  });

  router.post('/api/v1/schedules/:name/resume', async (req, res) => {
    res.json(await admin.resume(nameOf(req)));
  });

  router.post('/api/v1/schedules/:name/trigger', async (req, res) => {
    res.status(202).json(await admin.trigger(nameOf(req)));
  });

  router.post('/api/v1/schedules/:name/backfill', async (req, res) => {
    const { from, to } = parse(backfillSchema, req.body);
    res.status(202).json({ runs: await admin.backfill(nameOf(req), new Date(from), new Date(to)) });
  });

  return router;
}
