/** `celerity topology`'s output: the description as aligned text, or as JSON. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Catalogue } from '../../shared/src/app/catalogue.js';
import { describeTopology } from '../../shared/src/broker/topology.js';
import { loadApp } from '../../shared/src/app/load-app.js';
import { parseQueueTypes } from '../../shared/src/config/parse.js';
import { DEMO_APP } from '../helpers/demo.js';
import { renderTopology } from '../../worker/src/topology-command.js';

describe('celerity topology output', () => {
  const topology = describeTopology({ queues: ['demo', 'email'], queueTypes: parseQueueTypes('QUEUE_TYPES', 'email=quorum'), delayLevelsMs: [100] });

  it('--json prints the description itself', () => {
    assert.deepEqual(JSON.parse(renderTopology(topology, { json: true })), topology);
  });

  it('text lists every exchange, queue and binding, with counts, arguments and when each is declared', () => {
    const text = renderTopology(topology);
    assert.match(text, new RegExp(`^exchanges \\(${topology.exchanges.length}\\)$`, 'm'));
    assert.match(text, new RegExp(`^queues \\(${topology.queues.length}\\)$`, 'm'));
    assert.match(text, new RegExp(`^bindings \\(${topology.bindings.length}\\)$`, 'm'));
    assert.match(text, /^ {2}email +task +durable +at connect +x-queue-type=quorum x-delivery-limit=20 x-dead-letter-exchange="" x-dead-letter-routing-key=email\.dead/m);
    assert.match(text, /^ {2}demo\.dead +dead-letter +durable +on first use$/m);
    assert.match(text, /^ {2}celerity\.delay\.100 +delay +durable +on first use +x-message-ttl=100 x-dead-letter-exchange=""$/m);
    assert.match(text, /^ {2}\(named by the broker\) +event-monitor +transient,auto-delete,exclusive/m);
    assert.match(text, /^ {2}celerity\.delay +-> +celerity\.delay\.100 +x-match=all celerity-delay=100$/m);
    assert.equal(text.split('\n').filter((line) => line.startsWith('  ')).length, topology.exchanges.length + topology.queues.length + topology.bindings.length);
  });

  it("docs/architecture.md shows what it prints for the demo app", async () => {
    const docs = await readFile(resolve(process.cwd(), 'docs/architecture.md'), 'utf8');
    const shown = /<!-- celerity topology --app examples\/demo\/tasks\.js -->\n```text\n([\s\S]*?)```/.exec(docs)?.[1];
    const app = await loadApp(DEMO_APP);
    const catalogue = new Catalogue(app.tasks);
    assert.equal(shown, renderTopology(describeTopology({ queues: catalogue.defaultQueues(), queueTypes: catalogue.queueTypes() })));
  });
});
