/**
 * The scheduler's settings (`celerity beat`, `celerity worker --beat`): how long the leader's
 * lease lasts and how often each process ticks. A dead leader is replaced within
 * `leaseMs + tickMs`.
 */
import { parseOptionalInteger, type Env } from './parse.js';

interface BeatSettings {
  /** BEAT_LEASE_MS: how long the leader lease lasts unrenewed, in ms. @default 10_000 */
  leaseMs: number;
  /** BEAT_TICK_MS: how often each scheduler process wakes, in ms (at most a third of the lease). @default 1_000 */
  tickMs: number;
}

const BEAT_DEFAULTS: BeatSettings = { leaseMs: 10_000, tickMs: 1_000 };

export function loadBeatSettings(env: Env): BeatSettings {
  const leaseMs = parseOptionalInteger(env, 'BEAT_LEASE_MS', BEAT_DEFAULTS.leaseMs, 1_000, 600_000);
  const tickMs = parseOptionalInteger(env, 'BEAT_TICK_MS', BEAT_DEFAULTS.tickMs, 50, Math.floor(leaseMs / 3));
  return { leaseMs, tickMs };
}
