/** Workflows from the Node client: `client.workflow(chain | group | chord)` built from `task.s()`. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chain, chord, group } from '../../shared/src/client/canvas.js';
import { createClient } from '../../shared/src/client/client.js';
import { TaskFailedError } from '../../shared/src/client/errors.js';
import { add, fail, sum } from '../../examples/demo/tasks.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext } from '../helpers/harness.js';

describe('workflows from the Node client', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await TestContext.create();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('chain, group and chord run with Celery’s semantics; a failure rejects with the failed task', async () => {
    const queue = ctx.queue('client');
    await ctx.startWorker({ queues: [queue] });
    const client = await createClient({ amqpUrl: TEST_AMQP_URL, databaseUrl: TEST_DATABASE_URL, databaseSchema: ctx.schema, logger: ctx.logger, env: {}, tasks: [add, fail, sum] });
    ctx.defer(() => client.close());
    const options = { queue };

    const chained = await client.workflow(chain(add.s([1, 2], {}, options), add.s([3], {}, options)));
    assert.equal(chained.tasks.length, 2);
    const six: number = await chained.result({ timeoutMs: 30_000 });
    assert.equal(six, 6);

    const grouped = await client.workflow(group([1, 2, 3].map((i) => add.s([i, i], {}, options))));
    assert.deepEqual(await grouped.result({ timeoutMs: 30_000 }), [2, 4, 6]);

    const chorded = await client.workflow(chord([1, 2, 3].map((i) => add.s([i, 10], {}, options)), sum.s([], {}, options)));
    assert.equal(await chorded.result({ timeoutMs: 30_000 }), 36);
    assert.equal((await chorded.info())?.state, 'SUCCESS');

    const failing = await client.workflow(chain(fail.s(['nope'], {}, options), add.s([1], {}, options)));
    await assert.rejects(failing.result({ timeoutMs: 30_000 }), (err: unknown) => err instanceof TaskFailedError && err.taskId === failing.tasks[0]!.id && err.taskMessage === 'nope');

    await assert.rejects(client.workflow(group([add.s([1, 2], {}, options), { name: 'no.such.task', options }])), /group\[1\]: Unknown task "no\.such\.task"/);
  });
});
