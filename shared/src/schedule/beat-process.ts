/**
 * A scheduler with its own connections, for `celerity beat` and `celerity worker --beat`: a
 * database pool, a broker connection and the submit path (ClientCore) that runs are published
 * through, and the Beat loop over them. Nothing half-started: `startBeat` resolves with a
 * running scheduler or closes what it opened and rejects.
 */
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { Catalogue, type ScheduleDefinition, type TaskDefinition } from '../app/index.js';
import { connectBroker, type Broker } from '../broker/index.js';
import type { CommonConfig } from '../config/index.js';
import { shutdownSteps, type Logger } from '../core/index.js';
import { createPool } from '../store/index.js';
import { ClientCore } from '../submit/index.js';
import { Beat } from './beat.js';

export interface StartBeatOptions {
  config: Pick<CommonConfig, 'amqpUrls' | 'databaseUrl' | 'heartbeatS' | 'amqpTls' | 'queueTypes'>;
  /** @default 'celerity' */
  schema?: string;
  logger: Logger;
  /** The tasks runs may name (the app's). */
  tasks: readonly TaskDefinition[];
  /** The app's schedules. */
  schedules: readonly ScheduleDefinition[];
  registry?: Registry;
  /** This process in the lease. @default `beat@<host>:<pid>` */
  name?: string;
  /** @default 10_000 (see BeatOptions) */
  leaseMs?: number;
  /** @default 1_000 */
  tickMs?: number;
}

export interface RunningBeat {
  readonly beat: Beat;
  /** Stops the loop, gives the lease up, closes the connections. Safe to call twice. */
  close(): Promise<void>;
}

export async function startBeat(options: StartBeatOptions): Promise<RunningBeat> {
  const { logger } = options;
  const pool: pg.Pool = createPool({ url: options.config.databaseUrl, schema: options.schema, logger, applicationName: 'celerity-beat', max: 4 });
  let broker: Broker | undefined;
  let core: ClientCore | undefined;
  try {
    broker = await connectBroker(options.config, logger, 'celerity-beat');
    core = await ClientCore.create({
      broker,
      pool,
      logger,
      catalogue: new Catalogue(options.tasks),
      replyQueuePrefix: 'celerity.reply.beat.',
      ...(options.config.queueTypes ? { queueTypes: options.config.queueTypes } : {}),
    });
    const beat = await Beat.create({
      pool,
      core,
      schedules: options.schedules,
      logger,
      ...(options.registry ? { registry: options.registry } : {}),
      ...(options.name ? { name: options.name } : {}),
      ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
      ...(options.tickMs !== undefined ? { tickMs: options.tickMs } : {}),
    });
    let closing: Promise<void> | undefined;
    const opened = { broker, core };
    return {
      beat,
      close: () => {
        closing ??= (async () => {
          const steps = shutdownSteps(logger, 'scheduler shutdown');
          await steps.run('stopping the scheduler', () => beat.close());
          await steps.run('closing its submit path', () => opened.core.close());
          await steps.run('closing its broker connection', () => opened.broker.close());
          await steps.run('closing its database pool', () => pool.end());
          steps.throwIfFailed('closing the scheduler');
        })();
        return closing;
      },
    };
  } catch (err) {
    await core?.close().catch(() => undefined);
    await broker?.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    throw err;
  }
}
