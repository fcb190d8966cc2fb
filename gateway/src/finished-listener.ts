/**
 * Learns from PostgreSQL when tasks finish, whoever submitted them: a dedicated connection
 * LISTENs on `celerity_finished` (a trigger of migration 4 notifies on every change into a
 * final state, at commit) and nudges this gateway's waiters, so a `GET ?wait=` on a task
 * another gateway submitted is answered within one waiter tick (100 ms) instead of the
 * backed-off poll (up to 1 s). Advisory: while the connection is down, the poll still answers.
 */
import pg from 'pg';
import type { Logger } from '../../shared/src/core/index.js';

const FINISHED_CHANNEL = 'celerity_finished';

/** Silence on the LISTEN connection before the kernel's first keepalive probe, in ms. */
const KEEPALIVE_IDLE_MS = 10_000;

export interface FinishedListenerOptions {
  databaseUrl: string;
  /** Only notifications for this schema count. */
  schema: string;
  logger: Logger;
  onFinished: (id: string) => void;
  /** Longest gap between reconnect attempts, in ms. @default 5000 */
  maxReconnectDelayMs?: number;
}

export class FinishedListener {
  readonly #options: FinishedListenerOptions;
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #closed = false;

  private constructor(options: FinishedListenerOptions) {
    this.#options = options;
  }

  /** Starts listening; resolves even if the database is down (it keeps trying). */
  static async create(options: FinishedListenerOptions): Promise<FinishedListener> {
    const listener = new FinishedListener(options);
    await listener.#connect();
    return listener;
  }

  get listening(): boolean {
    return this.#client !== undefined;
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    // TCP keepalive: this connection only ever receives, so a peer that vanished without a FIN
    // (a NAT or firewall dropping the flow, a host gone) would otherwise never be noticed and
    // the waits would fall back to polling for good. The kernel probes after 10 s of silence.
    const client = new pg.Client({
      connectionString: this.#options.databaseUrl,
      application_name: 'celerity-gateway-listen',
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
    });
    // 'error' then 'end' follow a lost connection; 'end' drives the reconnect.
    client.on('error', (err) => this.#options.logger.warn('task notification connection failed', { err }));
    client.on('notification', (message) => {
      const payload = message.payload ?? '';
      const space = payload.indexOf(' ');
      if (space > 0 && payload.slice(0, space) === this.#options.schema) this.#options.onFinished(payload.slice(space + 1));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${FINISHED_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      this.#options.logger.warn('cannot listen for finished tasks yet; GET ?wait= polls meanwhile', { err });
      this.#schedule();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    client.once('end', () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      this.#schedule();
    });
    this.#client = client;
    this.#attempt = 0;
  }

  #schedule(): void {
    if (this.#closed || this.#timer) return;
    const delay = Math.min(this.#options.maxReconnectDelayMs ?? 5_000, 200 * 2 ** this.#attempt++);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect().catch((err: unknown) => this.#options.logger.error('task notification reconnect failed', { err }));
    }, delay);
  }

  /** Stops listening; safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}
