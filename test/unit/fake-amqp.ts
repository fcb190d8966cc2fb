/**
 * A fake broker and channel for ManagedChannel and its owners: channels record prefetch,
 * consumers, acks and nacks; the test delivers messages, cancels consumers and closes
 * channels as the server would.
 */
import { EventEmitter } from 'node:events';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import type { Broker, SetupFn } from '../../shared/src/broker/connection.js';

type OnMessage = (message: ConsumeMessage | null) => void;

export class FakeChannel extends EventEmitter {
  closed = false;
  readonly consumers = new Map<string, { queue: string; onMessage: OnMessage }>();
  readonly acked: ConsumeMessage[] = [];
  readonly nacked: { message: ConsumeMessage; requeue: boolean }[] = [];
  readonly cancelled: string[] = [];
  consumeCalls = 0;
  /** Makes the next consume() fail (the queue is gone and cannot be declared). */
  failNextConsume = false;
  #tags = 0;
  #deliveries = 0;

  constructor(readonly id: number) {
    super();
  }
  prefetch(): Promise<void> {
    return Promise.resolve();
  }
  assertExchange(): Promise<void> {
    return Promise.resolve();
  }
  assertQueue(queue: string): Promise<{ queue: string }> {
    return Promise.resolve({ queue });
  }
  bindQueue(): Promise<void> {
    return Promise.resolve();
  }
  consume(queue: string, onMessage: OnMessage): Promise<{ consumerTag: string }> {
    this.consumeCalls++;
    if (this.failNextConsume) {
      this.failNextConsume = false;
      return Promise.reject(Object.assign(new Error('NOT_FOUND'), { code: 404 }));
    }
    const consumerTag = `tag-${this.id}-${++this.#tags}`;
    this.consumers.set(consumerTag, { queue, onMessage });
    return Promise.resolve({ consumerTag });
  }
  cancel(tag: string): Promise<void> {
    this.cancelled.push(tag);
    this.consumers.delete(tag);
    return Promise.resolve();
  }
  ack(message: ConsumeMessage): void {
    this.acked.push(message);
  }
  nack(message: ConsumeMessage, _allUpTo: boolean, requeue: boolean): void {
    this.nacked.push({ message, requeue });
  }
  publish(): boolean {
    return true;
  }
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.emit('close');
    }
    return Promise.resolve();
  }

  /** The server closes the channel (a 404 or 406 on it): 'error', then 'close'. */
  serverClose(code: number): void {
    this.emit('error', Object.assign(new Error(`channel closed by server: ${code}`), { code }));
    void this.close();
  }

  /** The server delivers a message to the consumer of `queue`. */
  deliver(queue: string, id: string): ConsumeMessage {
    const consumer = [...this.consumers.values()].find((c) => c.queue === queue);
    if (!consumer) throw new Error(`no consumer of ${queue} on channel ${this.id}`);
    const message = {
      content: Buffer.from('[]'),
      fields: { deliveryTag: ++this.#deliveries, redelivered: false, routingKey: queue, exchange: '', consumerTag: '' },
      properties: { headers: { id }, correlationId: id },
    } as unknown as ConsumeMessage;
    consumer.onMessage(message);
    return message;
  }

  /** The server cancels the consumer of `queue` (the queue was deleted). */
  cancelConsumer(queue: string): void {
    const [tag, consumer] = [...this.consumers.entries()].find(([, c]) => c.queue === queue) ?? [];
    if (!tag || !consumer) throw new Error(`no consumer of ${queue}`);
    this.consumers.delete(tag);
    consumer.onMessage(null);
  }
}

/** Just what ManagedChannel uses of Broker: setups, and a reopen that retries at once. */
export class FakeBroker {
  readonly setups: SetupFn[] = [];
  readonly channels: FakeChannel[] = [];
  /** Reopens tried after the server closed a channel (failed ones included). */
  reopenAttempts = 0;
  readonly connection = {
    createChannel: () => {
      const channel = new FakeChannel(this.channels.length + 1);
      this.channels.push(channel);
      return Promise.resolve(channel);
    },
  } as unknown as ChannelModel;

  async onConnect(setup: SetupFn): Promise<void> {
    this.setups.push(setup);
    await setup(this.connection);
  }
  offConnect(setup: SetupFn): void {
    const i = this.setups.indexOf(setup);
    if (i >= 0) this.setups.splice(i, 1);
  }
  reopenChannel(connection: ChannelModel, what: string, reopen: (c: ChannelModel) => Promise<void>): void {
    setImmediate(() => {
      this.reopenAttempts++;
      reopen(connection).catch(() => this.reopenChannel(connection, what, reopen));
    });
  }
  /** A reconnect: every registered setup runs on the (new) connection. */
  async reconnect(): Promise<void> {
    for (const setup of [...this.setups]) await setup(this.connection);
  }
  get broker(): Broker {
    return this as unknown as Broker;
  }
  get last(): FakeChannel {
    const channel = this.channels.at(-1);
    if (!channel) throw new Error('no channel yet');
    return channel;
  }
}
