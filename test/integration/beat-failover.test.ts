/**
 * The scheduler's one promise under failure: three `celerity beat` processes, the leader killed
 * with SIGKILL twice; every scheduled time of a 1 s schedule fires exactly once (counted in the
 * store), the runs missed while nobody led fire once each (catchUp: all), and the broker holds
 * one message per run (a run is published again only when its publisher died between the
 * broker's confirm and marking it, and then as the same task id).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import amqp from 'amqplib';
import { TestContext, TEST_AMQP_URL, waitFor } from '../helpers/harness.js';
import { firesOf, leaseHolder, spawnBeat, type BeatProcess } from '../helpers/beat.js';

let ctx: TestContext;
const children: ChildProcess[] = [];

before(async () => {
  ctx = await TestContext.create();
  ctx.defer(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    }
  });
});
after(() => ctx.cleanup());

/** A TCP port free right now (for a child's --metrics-port: 0 there means off). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The task ids of the messages on `queue` (taken off it). */
async function drainTaskIds(queue: string): Promise<string[]> {
  const connection = await amqp.connect(TEST_AMQP_URL);
  try {
    const channel = await connection.createChannel();
    const ids: string[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) return ids;
      ids.push(String(message.properties.headers?.id));
    }
  } finally {
    await connection.close();
  }
}

test('three schedulers, the leader killed twice: each second fires exactly once', { timeout: 120_000 }, async () => {
  const queue = ctx.queue('beat');
  const schedule = 'failover.every-second';
  const spawn = (): Promise<BeatProcess> =>
    spawnBeat({ schema: ctx.schema, queue, schedules: [{ name: schedule, every: '1s', catchUp: 'all' }], env: { BEAT_LEASE_MS: '2000', BEAT_TICK_MS: '200' } }, (c) => children.push(c));
  const beats = await Promise.all([spawn(), spawn(), spawn()]);
  const byPid = new Map(beats.map((b) => [b.child.pid, b]));

  const killed: number[] = [];
  for (let round = 0; round < 2; round++) {
    const leader = await waitFor('a leader', async () => {
      const lease = await leaseHolder(ctx.pool);
      return lease && !killed.includes(lease.pid) ? lease : undefined;
    }, { timeoutMs: 30_000 });
    const before = (await firesOf(ctx.pool, schedule)).length;
    await waitFor('the leader to fire a few runs', async () => (await firesOf(ctx.pool, schedule)).length >= before + 3, { timeoutMs: 30_000 });
    const victim = byPid.get(leader.pid);
    assert.ok(victim, `the lease holder ${leader.holder} is one of the three processes`);
    victim.child.kill('SIGKILL');
    await victim.exited;
    killed.push(leader.pid);
  }
  // The survivor takes over and fires the runs missed meanwhile, then a few more.
  const survivor = await waitFor('the last process to lead', async () => {
    const lease = await leaseHolder(ctx.pool);
    return lease && !killed.includes(lease.pid) ? lease : undefined;
  }, { timeoutMs: 30_000 });
  const lastKill = new Date();
  await waitFor('runs after the takeover', async () => (await firesOf(ctx.pool, schedule)).some((f) => f.scheduledAt.getTime() > lastKill.getTime() + 2_000 && f.state === 'published'), { timeoutMs: 30_000 });
  for (const beat of beats) if (beat.child.exitCode === null && beat.child.signalCode === null) beat.child.kill('SIGTERM');
  await Promise.all(beats.map((b) => b.exited));

  const fires = await firesOf(ctx.pool, schedule);
  const times = fires.map((f) => f.scheduledAt.getTime());
  // Every second from the first run to the last, each once: no gap (missed runs caught up), no duplicate (the key).
  for (let i = 1; i < times.length; i++) assert.equal((times[i] ?? 0) - (times[i - 1] ?? 0), 1_000, `runs ${i - 1} and ${i} are one second apart`);
  assert.equal(new Set(times).size, times.length);
  assert.ok(fires.every((f) => f.state === 'published' && f.kind === 'scheduled'), 'every run was published');
  // Three leaders fired: three fencing tokens.
  assert.equal(new Set(fires.map((f) => f.token)).size, 3, 'runs were recorded under three fencing tokens');
  assert.ok(!killed.includes(survivor.pid));

  const published = await drainTaskIds(queue);
  const expected = new Set(fires.map((f) => f.taskId));
  assert.deepEqual(new Set(published), expected, 'the broker got exactly the recorded runs, as their task ids');
  assert.ok(published.length - expected.size <= killed.length, `at most one run published again per killed leader (got ${published.length - expected.size})`);
});

test('a worker started with -B fires the schedule, runs its tasks, and reports celerity_beat_* on its /metrics', { timeout: 90_000 }, async () => {
  const queue = ctx.queue('beat-worker');
  const schedule = 'worker.every-second';
  const port = await freePort();
  const worker = await spawnBeat(
    { schema: ctx.schema, queue, schedules: [{ name: schedule, every: '1s', args: ['tick'] }], command: ['worker', '-Q', queue, '-B', '--metrics-port', String(port)], env: { BEAT_LEASE_MS: '2000', BEAT_TICK_MS: '200' } },
    (c) => children.push(c),
  );
  const runs = await waitFor('two runs to finish', async () => {
    const published = (await firesOf(ctx.pool, schedule)).filter((f) => f.state === 'published' && f.taskId);
    const done = [];
    for (const fire of published) {
      const row = await ctx.store.get(fire.taskId ?? '');
      if (row?.state === 'SUCCESS') done.push(row);
    }
    return done.length >= 2 ? done : undefined;
  }, { timeoutMs: 60_000 });
  assert.deepEqual(runs[0]?.result, ['tick']);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /celerity_beat_leader\{[^}]*\} 1/);
  assert.match(metrics, /celerity_beat_fires_total\{[^}]*task="beat\.test\.record"[^}]*\} [1-9]/);
  assert.match(metrics, /celerity_beat_leader_changes_total\{[^}]*change="acquired"[^}]*\} 1/);
  worker.child.kill('SIGTERM');
  await worker.exited;
  assert.match(worker.output(), /gave the lease up/);
});
