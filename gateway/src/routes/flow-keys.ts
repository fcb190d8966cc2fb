/**
 * `GET /api/v1/flow/keys?limit=N` — the busiest keys of flow control by key (waiting and
 * running tasks per task type and key, N of them, default 10, at most 100) and the totals over
 * every key, read from the store (shared/src/store/flow-view.ts). Admin-only when keys are on
 * (api-policy.ts: a route it does not list needs admin). The dashboard's "Busiest keys" table
 * reads it.
 */
import { Router } from 'express';
import { CelerityError } from '../../../shared/src/core/index.js';
import { DEFAULT_BUSIEST_KEYS, MAX_BUSIEST_KEYS, type FlowView } from '../../../shared/src/store/index.js';

export interface FlowKeyRoutesDeps {
  /** Reads the `limit` busiest keys and the totals. */
  flowKeys: (limit: number) => Promise<FlowView>;
}

function parseLimit(value: unknown): number {
  if (value === undefined) return DEFAULT_BUSIEST_KEYS;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_BUSIEST_KEYS) {
    throw new CelerityError('INVALID_REQUEST', `limit must be a whole number from 1 to ${MAX_BUSIEST_KEYS}`);
  }
  return Number(value);
}

export function flowKeyRoutes(deps: FlowKeyRoutesDeps): Router {
  const router = Router();
  router.get('/api/v1/flow/keys', async (req, res) => {
    res.json(await deps.flowKeys(parseLimit(req.query.limit)));
  });
  return router;
}
