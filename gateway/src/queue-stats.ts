/**
 * Queue depth and consumers, sampled from the broker without the management plugin: a passive
 * queue declare (`checkQueue`) answers with the ready-message and consumer counts. Every
 * `intervalMs` the known queues (the catalogue's, plus the ones this gateway has published
 * to, at most `maxQueues`) are sampled on a short-lived channel of their own, because a
 * passive declare of a missing queue closes its channel with 404; such a queue is dropped
 * from the stats (and from the gauges) until it exists again. Each sample feeds
 * `celerity_queue_messages` / `celerity_queue_consumers`, the dashboard, and a short
 * in-memory history for its charts. `get(queue)` is also what backpressure reads.
 *
 * The same round counts each sampled queue's dead letters (`<queue>.dead`, declared by a
 * worker on its first dead letter) into `celerity_dead_letter_messages`. A dead-letter queue
 * that does not exist holds none: it reads 0, and is asked again after a growing number of
 * rounds (at most `deadRecheckRounds`), because every passive declare of a missing queue costs
 * a channel and a line in the broker's log.
 */
import type { Channel } from 'amqplib';
import {
  deadLetterQueueName,
  DEAD_LETTER_SUFFIX,
  eachOnTransientChannel,
  type Broker,
} from '../../shared/src/broker/index.js';
import { type Logger } from '../../shared/src/core/index.js';
import type { GatewayMetrics } from './metrics.js';

export interface QueueSample {
  /** Messages ready for delivery (not counting unacknowledged ones). */
  messages: number;
  consumers: number;
  /** When the broker answered, in ms since the epoch. */
  sampledAt: number;
}

/** One point of a queue's history; rates are per second since the previous point. */
export interface QueueHistoryPoint {
  /** When the sampling round started, ms since the epoch (the same for every queue of a round). */
  t: number;
  messages: number;
  consumers: number;
  /** Tasks workers received from the queue (worker events), per second; null on the first point. */
  receivedPerS: number | null;
  /** Tasks workers finished, per second. */
  finishedPerS: number | null;
}

/** Cumulative per-queue task counts, from worker events. */
type QueueCounters = (queue: string) => { received: number; finished: number };

export interface QueueStatsOptions {
  /** The queues to sample, asked afresh every round. */
  queues: () => Iterable<string>;
  logger: Logger;
  metrics?: GatewayMetrics;
  counters?: QueueCounters;
  /** Time between samples, in ms. @default 5000 */
  intervalMs?: number;
  /** Points kept per queue (at the default interval, 10 minutes). @default 120 */
  historyLength?: number;
  /** Queues sampled per round at most; the rest are left out (and logged once). @default 200 */
  maxQueues?: number;
  /** Most rounds between two looks at a dead-letter queue found missing. @default 12 (a minute) */
  deadRecheckRounds?: number;
}

interface QueueState {
  latest: QueueSample | undefined;
  history: QueueHistoryPoint[];
  lastCounts: { received: number; finished: number } | undefined;
}

/** A dead-letter queue found missing: skipped for `skip` more rounds, then asked again. */
interface MissingDeadQueue {
  skip: number;
  /** Rounds skipped after the latest miss; doubles with each miss. */
  backoff: number;
}

export class QueueStats {
  readonly #broker: Broker;
  readonly #options: Required<Omit<QueueStatsOptions, 'metrics' | 'counters'>> & Pick<QueueStatsOptions, 'metrics' | 'counters'>;
  readonly #queues = new Map<string, QueueState>();
  readonly #missingDead = new Map<string, MissingDeadQueue>();
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #closed = false;
  #warnedTooMany = false;

  private constructor(broker: Broker, options: QueueStatsOptions) {
    this.#broker = broker;
    this.#options = { intervalMs: 5_000, historyLength: 120, maxQueues: 200, deadRecheckRounds: 12, ...options };
  }

  /** Takes a first sample (when connected), then samples every `intervalMs`. */
  static async create(broker: Broker, options: QueueStatsOptions): Promise<QueueStats> {
    const stats = new QueueStats(broker, options);
    await stats.sampleNow();
    stats.#timer = setInterval(() => {
      // Failures are logged inside; a round never throws.
      void stats.sampleNow();
    }, stats.#options.intervalMs);
    stats.#timer.unref();
    return stats;
  }

  get intervalMs(): number {
    return this.#options.intervalMs;
  }

  /** The latest sample of `queue`, or undefined if it was never sampled or does not exist. */
  get(queue: string): { messages: number; consumers: number; sampledAt: number } | undefined {
    return this.#queues.get(queue)?.latest;
  }

  /** Every queue with a current sample, by name. */
  list(): Array<{ queue: string } & QueueSample> {
    const out: Array<{ queue: string } & QueueSample> = [];
    for (const [queue, state] of this.#queues) if (state.latest) out.push({ queue, ...state.latest });
    return out.sort((a, b) => a.queue.localeCompare(b.queue));
  }

  history(queue: string): QueueHistoryPoint[] {
    return [...(this.#queues.get(queue)?.history ?? [])];
  }

  /** Samples every known queue now; concurrent callers share one round. */
  sampleNow(): Promise<void> {
    const round =
      this.#round ??
      this.#sample()
        .catch((err: unknown) => {
          this.#options.logger.warn('queue stats: sampling failed', { err });
        })
        .finally(() => {
          this.#round = undefined;
        });
    this.#round = round;
    return round;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#round;
  }

  async #sample(): Promise<void> {
    const connection = this.#broker.connection;
    if (!connection || this.#closed) return;
    const wanted = [...new Set(this.#options.queues())];
    if (wanted.length > this.#options.maxQueues && !this.#warnedTooMany) {
      this.#warnedTooMany = true;
      this.#options.logger.warn('queue stats: too many queues; sampling only the first ones', {
        queues: wanted.length,
        maxQueues: this.#options.maxQueues,
      });
    }
    const queues = wanted.slice(0, this.#options.maxQueues);
    // Queues no longer wanted are forgotten, so the maps and gauges stay bounded.
    for (const queue of [...this.#queues.keys()]) if (!queues.includes(queue)) this.#drop(queue);
    // One time for the whole round, so the charts line the queues up on the same x values.
    const roundAt = Date.now();
    // Each queue, then its dead letters: one item each, so a 404 on either closes only its channel.
    const items = queues.flatMap((queue) => (queue.endsWith(DEAD_LETTER_SUFFIX) ? [{ queue, dead: false }] : [{ queue, dead: false }, { queue, dead: true }]));
    await eachOnTransientChannel(
      connection,
      items,
      async (channel, { queue, dead }) => {
        if (this.#closed) return;
        if (dead) {
          // Its queue was dropped a moment ago (404): nothing to count.
          if (this.#queues.has(queue)) await this.#sampleDeadLetters(channel, queue);
          return;
        }
        const ok = await channel.checkQueue(queue);
        this.#record(queue, { messages: ok.messageCount, consumers: ok.consumerCount, sampledAt: Date.now() }, roundAt);
      },
      ({ queue, dead }, err) => {
        // A missing queue (404) is forgotten; a missing dead-letter queue holds none. Either way
        // the next item gets a new channel.
        if ((err as { code?: unknown }).code !== 404) throw err;
        if (dead) this.#deadLettersMissing(queue);
        else this.#drop(queue);
      },
    );
  }

  #record(queue: string, sample: QueueSample, roundAt: number): void {
    let state = this.#queues.get(queue);
    if (!state) {
      state = { latest: undefined, history: [], lastCounts: undefined };
      this.#queues.set(queue, state);
    }
    const previous = state.history.at(-1);
    const counts = this.#options.counters?.(queue);
    let receivedPerS: number | null = null;
    let finishedPerS: number | null = null;
    if (previous && counts && state.lastCounts) {
      const seconds = Math.max(0.001, (roundAt - previous.t) / 1000);
      receivedPerS = round2(Math.max(0, counts.received - state.lastCounts.received) / seconds);
      finishedPerS = round2(Math.max(0, counts.finished - state.lastCounts.finished) / seconds);
    }
    state.lastCounts = counts;
    state.latest = sample;
    state.history.push({ t: roundAt, messages: sample.messages, consumers: sample.consumers, receivedPerS, finishedPerS });
    if (state.history.length > this.#options.historyLength) state.history.splice(0, state.history.length - this.#options.historyLength);
    this.#options.metrics?.queueMessages.set({ queue }, sample.messages);
    this.#options.metrics?.queueConsumers.set({ queue }, sample.consumers);
  }

  /** Sets `queue`'s dead-letter gauge; returns the channel, or undefined if the broker closed it. */
  async #sampleDeadLetters(channel: Channel, queue: string): Promise<void> {
    const gauge = this.#options.metrics?.deadLetterMessages;
    const missing = this.#missingDead.get(queue);
    if (missing && missing.skip > 0) {
      missing.skip--;
      gauge?.set({ queue }, 0);
      return;
    }
    const ok = await channel.checkQueue(deadLetterQueueName(queue));
    this.#missingDead.delete(queue);
    gauge?.set({ queue }, ok.messageCount);
  }

  /** `<queue>.dead` does not exist: it holds none, and is asked again after a growing number of rounds. */
  #deadLettersMissing(queue: string): void {
    const missing = this.#missingDead.get(queue);
    const backoff = Math.min(Math.max(1, (missing?.backoff ?? 0) * 2), this.#options.deadRecheckRounds);
    this.#missingDead.set(queue, { skip: backoff, backoff });
    this.#options.metrics?.deadLetterMessages.set({ queue }, 0);
  }

  #drop(queue: string): void {
    this.#missingDead.delete(queue);
    this.#options.metrics?.deadLetterMessages.remove({ queue });
    if (!this.#queues.delete(queue)) return;
    this.#options.metrics?.queueMessages.remove({ queue });
    this.#options.metrics?.queueConsumers.remove({ queue });
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
