/**
 * One AMQP connection that reconnects by itself. Components register a setup function
 * (`onConnect`) that opens their channels and declares their topology; every setup runs
 * again, in registration order, after each reconnect. Broker URLs are tried in turn, so a
 * list of cluster nodes fails over.
 */
import { EventEmitter } from 'node:events';
import amqp, { type ChannelModel } from 'amqplib';
import { DEFAULTS, type AmqpTlsOptions } from '../config/index.js';
import { redactUrl, type Logger } from '../core/index.js';
import { BrokerAuthError, BrokerUnreachableError, IRRECOVERABLE_CODES, handshakeReplyCode, isIrrecoverable } from './connection-errors.js';

;

export type SetupFn = (connection: ChannelModel) => Promise<void>;

export interface BrokerOptions {
  urls: string[];
  logger: Logger;
  /** Shown in the RabbitMQ management UI and `rabbitmqctl list_connections`. */
  connectionName: string;
  /** AMQP heartbeat in seconds (0 = off). @default 30 */
  heartbeatS?: number;
  /** How long `Broker.create` keeps trying before it fails, in milliseconds. @default 15000 */
  initialConnectTimeoutMs?: number;
  /** First reconnect delay in milliseconds; doubles up to `maxReconnectDelayMs`. @default 100 */
  minReconnectDelayMs?: number;
  /** @default 5000 */
  maxReconnectDelayMs?: number;
  /** CA / client certificate for `amqps://` URLs (AMQP_CA_FILE, ...). @default the system CAs */
  tls?: AmqpTlsOptions;
}

/** Sets the heartbeat in the URL's query unless the operator already put one there. */
function withHeartbeat(url: string, heartbeatS: number): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(heartbeatS));
  return parsed.toString();
}

type BrokerEvents = {
  connected: [];
  disconnected: [Error | undefined];
  blocked: [string];
  unblocked: [];
  error: [Error];
};

export class Broker extends EventEmitter<BrokerEvents> {
  readonly #options: Required<BrokerOptions>;
  readonly #setups: SetupFn[] = [];
  #connection: ChannelModel | undefined;
  #urlIndex = 0;
  #closing: Promise<void> | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #reconnectAttempt = 0;
  #blocked = false;
  /** Pending channel reopen retries, cleared by close(). */
  readonly #reopenTimers = new Set<NodeJS.Timeout>();

  private constructor(options: BrokerOptions) {
    super();
    this.#options = {
      heartbeatS: DEFAULTS.heartbeatS,
      initialConnectTimeoutMs: DEFAULTS.amqpInitialConnectTimeoutMs,
      minReconnectDelayMs: DEFAULTS.amqpMinReconnectDelayMs,
      maxReconnectDelayMs: DEFAULTS.amqpMaxReconnectDelayMs,
      tls: {},
      ...options,
    };
  }

  /** Connects (retrying until `initialConnectTimeoutMs`), or fails with a clear error. */
  static async create(options: BrokerOptions): Promise<Broker> {
    const broker = new Broker(options);
    await broker.#connectInitially();
    return broker;
  }

  get connected(): boolean {
    return this.#connection !== undefined;
  }

  /** True while RabbitMQ has blocked publishing on this connection (a memory or disk alarm). */
  get blocked(): boolean {
    return this.#blocked;
  }

  /**
   * Registers a setup that runs now (if connected) and again after every reconnect.
   * A failing setup closes the connection, which schedules a reconnect. When the connection
   * is lost while the setup runs now (the broker restarted, an operator closed it), this
   * resolves: the setup is registered and runs on the next connection, as after any
   * reconnect, so a process that is still starting keeps starting instead of exiting.
   */
  async onConnect(setup: SetupFn): Promise<void> {
    this.#setups.push(setup);
    const connection = this.#connection;
    if (!connection) return;
    try {
      await setup(connection);
    } catch (err) {
      // A reply code is the broker refusing this setup's own operation (404, 406, 403): an
      // error to report, even though amqplib then closes the connection. Without one, the
      // connection went away under the setup; amqplib rejects a channel's pending calls just
      // before it reports the connection closed, hence the one turn.
      if (typeof (err as { code?: unknown } | undefined)?.code === 'number' || isIrrecoverable(err)) throw err;
      await new Promise((resolve) => setImmediate(resolve));
      if (this.#closing || this.#connection === connection) throw err;
      this.#options.logger.warn('the broker connection was lost during a setup; it runs again on the next connection', { err });
    }
  }

  /** Forgets a setup registered with `onConnect` (a closed ManagedChannel): it runs no more. */
  offConnect(setup: SetupFn): void {
    const i = this.#setups.indexOf(setup);
    if (i >= 0) this.#setups.splice(i, 1);
  }

  /** How many setups run on every (re)connect (tests check that a closed channel left none). */
  get setupCount(): number {
    return this.#setups.length;
  }

  /**
   * For a channel that closed: reopen it with `reopen` if its connection is still the live one
   * (the server closed just the channel, e.g. 404 on a deleted exchange, or a consumer the
   * broker cancelled). amqplib closes every channel before it reports the connection closed,
   * so the check waits one turn; after a lost connection the registered setups reopen
   * everything on the next one instead. A failed reopen is tried again with the reconnect
   * backoff (100 ms doubling to 5 s, jittered) for as long as that connection lives.
   */
  reopenChannel(connection: ChannelModel, what: string, reopen: (connection: ChannelModel) => Promise<void>, attempt = 0): void {
    const retry = (): void => {
      if (this.#closing || this.#connection !== connection) return;
      reopen(connection).then(
        () => {
          if (attempt > 0) this.#options.logger.info(`reopened the ${what}`, { attempts: attempt + 1 });
        },
        (err: unknown) => {
          if (this.#closing || this.#connection !== connection) return;
          const delay = this.#delay(attempt);
          this.#options.logger.error(`could not reopen the ${what}; retrying`, { err, attempt: attempt + 1, retryInMs: delay });
          const timer = setTimeout(() => {
            this.#reopenTimers.delete(timer);
            this.reopenChannel(connection, what, reopen, attempt + 1);
          }, delay);
          this.#reopenTimers.add(timer);
        },
      );
    };
    setImmediate(retry);
  }

  /** The live connection, for components that need to open a short-lived channel. */
  get connection(): ChannelModel | undefined {
    return this.#connection;
  }

  async #connectInitially(): Promise<void> {
    const deadline = Date.now() + this.#options.initialConnectTimeoutMs;
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#open();
        return;
      } catch (err) {
        if (isIrrecoverable(err)) throw err;
        lastError = err;
      }
      if (Date.now() >= deadline) break;
      const delay = this.#delay(attempt);
      const failed = this.#currentUrl();
      this.#urlIndex = (this.#urlIndex + 1) % this.#options.urls.length;
      this.#options.logger.warn('broker not reachable yet, retrying', {
        url: redactUrl(failed),
        ...(this.#options.urls.length > 1 ? { next: redactUrl(this.#currentUrl()) } : {}),
        attempt: attempt + 1,
        retryInMs: delay,
        err: lastError,
      });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    const urls = this.#options.urls.map(redactUrl).join(', ');
    throw new BrokerUnreachableError(
      `Cannot connect to RabbitMQ at ${urls} after ${this.#options.initialConnectTimeoutMs} ms: ${(lastError as Error | undefined)?.message ?? 'unknown error'}. Is it running and reachable from this host? Check AMQP_URL.`,
      { cause: lastError },
    );
  }

  #currentUrl(): string {
    return this.#options.urls[this.#urlIndex] ?? this.#options.urls[0] ?? '';
  }

  #delay(attempt: number): number {
    const base = Math.min(this.#options.maxReconnectDelayMs, this.#options.minReconnectDelayMs * 2 ** attempt);
    // Jitter so that many processes do not reconnect in lockstep after a broker restart.
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  async #open(): Promise<void> {
    const url = this.#currentUrl();
    let connection: ChannelModel;
    try {
      connection = await amqp.connect(withHeartbeat(url, this.#options.heartbeatS), {
        // amqplib leaves Nagle's algorithm on; small frames then wait for the peer's
        // delayed ACK, which turns a sub-millisecond round trip into tens of milliseconds.
        noDelay: true,
        timeout: 5_000,
        // For amqps:// amqplib hands these to tls.connect (ca, cert, key, passphrase).
        ...this.#options.tls,
        clientProperties: { connection_name: this.#options.connectionName, product: 'celerity' },
      });
    } catch (err) {
      const code = handshakeReplyCode(err);
      if (code !== undefined && IRRECOVERABLE_CODES.has(code)) {
        throw new BrokerAuthError(
          `RabbitMQ refused the connection to ${redactUrl(url)} (reply code ${code}): check the user, password, vhost and permissions in AMQP_URL`,
          { cause: err },
        );
      }
      throw err;
    }
    connection.on('error', (err: Error) => {
      // 'close' follows with the same error; it drives the reconnect.
      this.#options.logger.warn('broker connection error', { err });
    });
    connection.on('close', (err?: Error) => this.#onClose(connection, err));
    connection.on('blocked', (reason: string) => {
      this.#blocked = true;
      this.#options.logger.warn('broker blocked publishing on this connection', { reason });
      this.emit('blocked', reason);
    });
    connection.on('unblocked', () => {
      this.#blocked = false;
      this.#options.logger.info('broker unblocked publishing on this connection');
      this.emit('unblocked');
    });
    try {
      await this.#runSetups(connection);
    } catch (err) {
      connection.removeAllListeners('close');
      await connection.close().catch(() => undefined);
      throw err;
    }
    if (this.#closing) {
      // close() ran while this (re)connect was in flight: it must not outlive the broker.
      connection.removeAllListeners('close');
      await connection.close().catch(() => undefined);
      return;
    }
    this.#connection = connection;
    this.#reconnectAttempt = 0;
    this.#blocked = false;
    // Which node of AMQP_URL this process is on: operators read it after a failover.
    this.#options.logger.info('connected to broker', {
      url: redactUrl(url),
      ...(this.#options.urls.length > 1 ? { node: `${this.#urlIndex + 1} of ${this.#options.urls.length}` } : {}),
    });
    this.emit('connected');
  }

  /**
   * Runs every setup on a new connection, in registration order, including those registered
   * while this runs (`onConnect` runs a setup itself only once the connection is the live one,
   * which it is not yet), and skipping those unregistered meanwhile (a setup may close a
   * managed channel, which unregisters it).
   */
  async #runSetups(connection: ChannelModel): Promise<void> {
    const ran = new Set<SetupFn>();
    for (let next = this.#setups[0]; next !== undefined; next = this.#setups.find((setup) => !ran.has(setup))) {
      ran.add(next);
      await next(connection);
    }
  }

  #onClose(connection: ChannelModel, err?: Error): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    if (this.#closing) return;
    this.#options.logger.error('lost the broker connection; reconnecting', { err });
    this.emit('disconnected', err);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closing || this.#reconnectTimer) return;
    const delay = this.#delay(this.#reconnectAttempt++);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#open().catch((err: unknown) => {
        if (this.#closing) return;
        this.#urlIndex = (this.#urlIndex + 1) % this.#options.urls.length;
        if ((err as { code?: unknown }).code === 'QUEUE_MISMATCH') {
          // Every node would refuse the same declaration: stop, say why, stay not ready.
          this.#options.logger.error('broker setup refused; not reconnecting until restarted', { err });
          return;
        }
        if (err instanceof BrokerAuthError) {
          // Credentials changed under us: keep trying (they may be fixed), but say so loudly.
          this.#options.logger.error('broker refused the credentials', { err });
        } else {
          this.#options.logger.warn('reconnect failed', { err, attempt: this.#reconnectAttempt });
        }
        this.#scheduleReconnect();
      });
    }, delay);
  }

  /** Closes the connection; safe to call twice (the second caller gets the same promise). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = undefined;
      for (const timer of this.#reopenTimers) clearTimeout(timer);
      this.#reopenTimers.clear();
      const connection = this.#connection;
      this.#connection = undefined;
      if (connection) {
        connection.removeAllListeners('close');
        try {
          await connection.close();
        } catch (err) {
          this.#options.logger.warn('error while closing the broker connection', { err });
        }
      }
    })();
    return this.#closing;
  }
}

/** The broker settings every process reads from its configuration (AMQP_URL, heartbeat, TLS). */
export interface BrokerConfig {
  amqpUrls: string[];
  heartbeatS?: number;
  amqpTls?: AmqpTlsOptions;
}

/** Connects to the broker as `config` says, under `connectionName` (see `Broker.create`). */
export function connectBroker(config: BrokerConfig, logger: Logger, connectionName: string): Promise<Broker> {
  return Broker.create({
    urls: config.amqpUrls,
    logger,
    connectionName,
    ...(config.heartbeatS !== undefined ? { heartbeatS: config.heartbeatS } : {}),
    ...(config.amqpTls ? { tls: config.amqpTls } : {}),
  });
}
