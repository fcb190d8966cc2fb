/**
 * Three suspicions from issue 20, each confirmed against the real services and fixed: a failed
 * idempotent re-publish removed the PENDING row of a first publish that was confirmed; the
 * LISTEN connection had no TCP keepalive; a GET ?wait= on a kept-alive connection was held after
 * the gateway's drain started.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, readlink } from 'node:fs/promises';
import net from 'node:net';
import amqp from 'amqplib';
import { TEST_AMQP_URL, TestContext, http, waitFor, type Task } from '../helpers/harness.js';

/** Local ports of this process's TCP sockets, with their kernel timer (`tr`: 2 = keepalive armed). */
async function ownTcpSockets(): Promise<Map<number, number>> {
  const inodes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1]!);
  }
  const sockets = new Map<number, number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:tm->when retrnsmt uid timeout inode
      if (fields.length < 10 || !inodes.has(fields[9]!)) continue;
      const port = parseInt(fields[1]!.split(':')[1]!, 16);
      sockets.set(port, parseInt(fields[5]!.split(':')[0]!, 16));
    }
  }
  return sockets;
}

/** Sends raw HTTP/1.1 requests on one kept-alive connection and reads whole responses. */
class RawConnection {
  readonly #socket: net.Socket;
  #buffer = '';
  #closed = false;

  constructor(port: number) {
    this.#socket = net.connect(port, '127.0.0.1');
    this.#socket.setEncoding('utf8');
    this.#socket.on('data', (chunk: string) => (this.#buffer += chunk));
    this.#socket.on('close', () => (this.#closed = true));
    this.#socket.on('error', () => undefined);
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(path: string): void {
    this.#socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  }

  /** The next whole response (head and Content-Length body). */
  async response(): Promise<{ status: number; head: string; body: string }> {
    return waitFor('a whole response', () => {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const head = this.#buffer.slice(0, end);
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (this.#buffer.length < end + 4 + length) return undefined;
      const body = this.#buffer.slice(end + 4, end + 4 + length);
      this.#buffer = this.#buffer.slice(end + 4 + length);
      return { status: Number(head.split(' ')[1]), head, body };
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

describe('task ledger: suspected defects', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a failed idempotent re-publish keeps the PENDING row of a first publish that was confirmed', async () => {
    const queue = ctx.queue('republish');
    const { url } = await ctx.startGateway();
    const body = { args: [1, 2], options: { queue } };
    const first = await http<Task>(`${url}/api/v1/tasks/demo.add`, { json: body, headers: { 'idempotency-key': 'k1' } });
    assert.equal(first.status, 202);
    await waitFor('the PENDING row', async () => (await ctx.store.get(first.body.id))?.state === 'PENDING');
    // As if the first publish's process had died between the broker's confirm and marking the
    // key: the next submit with the key publishes the task again.
    await ctx.pool.query('UPDATE idempotency_keys SET unconfirmed = true');
    // And that re-publish fails: the queue is gone (the broker returns the message).
    const connection = await amqp.connect(TEST_AMQP_URL);
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
    await connection.close();
    const again = await http<{ error: { code: string } }>(`${url}/api/v1/tasks/demo.add`, { json: body, headers: { 'idempotency-key': 'k1' } });
    assert.equal(again.status, 503, JSON.stringify(again.body));
    assert.equal(again.body.error.code, 'QUEUE_UNAVAILABLE');
    assert.equal((await ctx.store.get(first.body.id))?.state, 'PENDING', 'the first publish was confirmed: its row stays');
    assert.equal((await http(`${url}/api/v1/tasks/${first.body.id}`)).status, 200);
  });

  it('the LISTEN connection has TCP keepalive on, so a silently dropped one is noticed', async () => {
    const { gateway } = await ctx.startGateway();
    await waitFor('the gateway to listen', () => gateway.finishedListener.listening);
    const { rows } = await ctx.pool.query<{ client_port: number }>(
      `SELECT client_port FROM pg_stat_activity WHERE application_name = 'celerity-gateway-listen' AND query ILIKE 'LISTEN%'`,
    );
    const own = await ownTcpSockets();
    // Other processes' gateways listen too: ours is the one among this process's sockets.
    const ours = rows.map((r) => r.client_port).filter((port) => own.has(port));
    assert.equal(ours.length, 1, `one LISTEN connection of this process (${JSON.stringify(rows)})`);
    assert.equal(own.get(ours[0]!), 2, 'its keepalive timer is armed');
  });

  it('a GET ?wait= on a kept-alive connection after the drain started is answered at once and its connection closed', async () => {
    const queue = ctx.queue('drainka');
    const { url, gateway } = await ctx.startGateway({ drainMs: 5_000 });
    // Nobody consumes the queue: the task stays PENDING.
    const pending = await http<Task>(`${url}/api/v1/tasks/demo.sleep`, { json: { args: [1], options: { queue } } });
    const path = `/api/v1/tasks/${pending.body.id}`;
    // Another client's long-poll keeps the drain waiting.
    const held = http<Task>(`${url}${path}?wait=30`);
    // A kept-alive connection busy when the drain starts (so it is not closed as idle).
    const raw = new RawConnection(Number(new URL(url).port));
    ctx.defer(() => Promise.resolve(raw.close()));
    raw.send(`${path}?wait=1`);
    await waitFor('both waits to be registered', () => gateway.core.waiters.size === 2);
    const closed = gateway.close();
    await waitFor('the gateway to drain', () => gateway.state === 'DRAINING');
    const first = await raw.response();
    assert.equal(first.status, 200);
    assert.equal(raw.closed, false, 'Node keeps a busy connection open through server.close()');
    raw.send(`${path}?wait=30`);
    const second = await raw.response();
    assert.equal(second.status, 200);
    assert.equal((JSON.parse(second.body) as Task).state, 'PENDING');
    assert.match(second.head, /connection: close/i);
    assert.equal(gateway.core.waiters.size, 1, 'answered while the drain still waits for the other long-poll, without a wait of its own');
    await waitFor('the connection to close', () => raw.closed);
    assert.equal((await held).status, 200);
    await closed;
  });
});
