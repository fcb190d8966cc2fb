// The "limit" scenario's server: `node dist/bench/limit-server.js <queue> <prefetch>` (the bench starts it).
// A bare amqplib consumer doing what Celerity's worker does, minus the database: late ack, reply to reply_to.
import amqp from 'amqplib';
import { serveBench } from './lib/child.js';

const [queue, prefetchArg] = process.argv.slice(2);
if (!queue) throw new Error('usage: limit-server <queue> <prefetch>');
const connection = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672', { noDelay: true });
const channel = await connection.createChannel();
await channel.assertQueue(queue, { durable: true });
await channel.prefetch(Number(prefetchArg ?? 64), true);
let done = 0;
await channel.consume(
  queue,
  (message) => {
    if (!message) return;
    const { replyTo, correlationId } = message.properties as { replyTo?: string; correlationId?: string };
    // Reply first, then ack: the order Celerity's worker uses (result recorded and sent, then acked).
    if (replyTo) channel.publish('', replyTo, Buffer.from('{"status":"SUCCESS","result":3}'), { correlationId, deliveryMode: 1 });
    channel.ack(message);
    done++;
  },
  { noAck: false },
);
serveBench(() => done, () => connection.close());
