/** The pieces of Celery interoperability that need no broker: message fields, exceptions, options, replies. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkArguments, Catalogue } from '../../shared/src/app/catalogue.js';
import { CelerityError, ConfigError } from '../../shared/src/core/errors.js';
import {
  MessageFormatError,
  decodeTaskMessage,
  encodeTaskMessage,
  expirationFor,
  isExpired,
  newTaskMessage,
} from '../../shared/src/broker/protocol.js';
import {
  SENDER_RECORDS_KEY,
  decodeResultBody,
  encodeResultBody,
  toCeleryException,
  type TaskOutcome,
} from '../../shared/src/broker/results.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { externalTask } from '../../shared/src/app/define-task.js';
import { loadGatewayConfig } from '../../shared/src/config/load.js';
import { parseExternalTasks } from '../../shared/src/config/parse.js';
import { type TaskStore } from '../../shared/src/store/store.js';
import { type TaskWrite } from '../../shared/src/core/task.js';
import { resolveCeleryOptions } from '../../shared/src/submit/celery-options.js';
import { TaskLedger } from '../../shared/src/submit/task-ledger.js';
import { type Submission } from '../../shared/src/submit/submission.js';
import { turns, waitFor } from './support.js';
import { demoApp } from '../helpers/demo.js';

const headers = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ id: 'i', task: 'demo.add', ...extra });
const body = (embed: unknown = { callbacks: null, errbacks: null, chain: null, chord: null }): Buffer => Buffer.from(JSON.stringify([[1, 2], {}, embed]));

describe('celery: expires and priority in the message', () => {
  it('sets the expires header and a matching expiration TTL in ms, and priority', () => {
    const expires = new Date(Date.now() + 60_000).toISOString();
    const { options } = encodeTaskMessage(newTaskMessage({ id: 'a', name: 'demo.add', args: [], kwargs: {}, expires, priority: 9 }));
    assert.equal((options.headers as Record<string, unknown>).expires, expires);
    const ttl = Number(options.expiration);
    assert.ok(ttl > 50_000 && ttl <= 60_000, String(options.expiration));
    assert.equal(typeof options.expiration, 'string');
    assert.equal(options.priority, 9);
  });

  it('sets no expiration without expires', () => {
    const { options } = encodeTaskMessage(newTaskMessage({ id: 'a', name: 'demo.add', args: [], kwargs: {} }));
    assert.equal(options.expiration, undefined);
    assert.equal((options.headers as Record<string, unknown>).expires, null);
  });

  it('expirationFor: milliseconds ahead, 0 once past (as Celery), undefined when unreadable', () => {
    const now = Date.parse('2024-05-01T12:00:00Z');
    assert.equal(expirationFor('2024-05-01T12:00:01.5Z', now), '1500');
    assert.equal(expirationFor('2024-05-01T11:00:00Z', now), '0');
    assert.equal(expirationFor('2024-05-01T12:00:00.123456+00:00', now), '123');
    assert.equal(expirationFor('tomorrow', now), undefined);
  });

  it('isExpired: only a parseable date in the past', () => {
    const now = Date.parse('2024-05-01T12:00:00Z');
    assert.equal(isExpired({ expires: null }, now), false);
    assert.equal(isExpired({ expires: '2024-05-01T11:59:59.999999+00:00' }, now), true);
    assert.equal(isExpired({ expires: '2024-05-01T12:00:00.001Z' }, now), false);
  });

  it('refuses a message whose expires header is not a date (BAD_HEADER), like Celery’s InvalidTaskError', () => {
    assert.throws(
      () => decodeTaskMessage(body(), { headers: headers({ expires: 'next tuesday' }) }),
      (err: unknown) => err instanceof MessageFormatError && err.code === 'BAD_HEADER' && err.partial.id === 'i',
    );
  });

  it('reads the canvas the sender embedded (callbacks, chain), and none for empty or null parts', () => {
    assert.equal(decodeTaskMessage(body(), { headers: headers() }).embed, undefined);
    assert.equal(decodeTaskMessage(body({ callbacks: [], errbacks: null, chain: [], chord: null }), { headers: headers() }).embed, undefined);
    const chained = decodeTaskMessage(body({ callbacks: [{ task: 'x' }], errbacks: null, chain: [{ task: 'y', args: [3], options: { task_id: 't' } }], chord: null }), { headers: headers() });
    assert.deepEqual(chained.embed?.callbacks.map((s) => s.task), ['x']);
    assert.deepEqual(chained.embed?.chain, [{ task: 'y', args: [3], kwargs: {}, options: { task_id: 't' }, subtask_type: null, immutable: false }]);
    assert.equal(chained.embed?.chord, null);
  });
});

describe('celery: failures as Python exceptions', () => {
  it('names Python built-ins with module builtins, everything else with a module Python lacks', () => {
    assert.deepEqual(toCeleryException('FAILURE', { type: 'ValueError', message: 'bad' }), { exc_type: 'ValueError', exc_message: ['bad'], exc_module: 'builtins' });
    assert.deepEqual(toCeleryException('FAILURE', { type: 'TypeError', message: 't' }).exc_module, 'builtins');
    assert.deepEqual(toCeleryException('FAILURE', { type: 'PermanentError', message: 'p' }).exc_module, 'celerity');
    // Raising these in a Python client would stop it: never re-created as themselves.
    assert.equal(toCeleryException('FAILURE', { type: 'SystemExit', message: '' }).exc_module, 'celerity');
    assert.equal(toCeleryException('FAILURE', { type: 'KeyboardInterrupt', message: '' }).exc_module, 'celerity');
    assert.deepEqual(toCeleryException('FAILURE', null), { exc_type: 'Error', exc_message: [''], exc_module: 'celerity' });
  });

  it('sends REVOKED as Celery’s TaskRevokedError and reads it back', () => {
    const encoded = encodeResultBody({ id: 'r', state: 'REVOKED', error: { type: 'TaskRevokedError', message: 'expired' }, finishedAt: new Date() });
    const raw = JSON.parse(encoded.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(raw.result, { exc_type: 'TaskRevokedError', exc_message: ['expired'], exc_module: 'celery.exceptions' });
    assert.equal(raw.status, 'REVOKED');
    assert.deepEqual(decodeResultBody(encoded)?.error, { type: 'TaskRevokedError', message: 'expired' });
  });

  it('marks Celerity replies as recorded by their sender; a Python worker’s reply is not', () => {
    const ours = encodeResultBody({ id: 'o', state: 'SUCCESS', result: 1, finishedAt: new Date() });
    assert.equal((JSON.parse(ours.toString('utf8')) as Record<string, unknown>)[SENDER_RECORDS_KEY], true);
    assert.equal(decodeResultBody(ours)?.senderRecords, true);
    // What celery/backends/rpc.py sends: no date_done, no Celerity keys.
    const python = Buffer.from(JSON.stringify({ task_id: 'p', status: 'SUCCESS', result: 5, traceback: null, children: [] }));
    const outcome = decodeResultBody(python);
    assert.equal(outcome?.senderRecords, false);
    assert.equal(outcome?.result, 5);
  });
});

describe('celery: gateway options', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');

  it('turns seconds and ISO dates into an ISO expires; keeps priority', () => {
    assert.equal(resolveCeleryOptions({}, now), undefined);
    assert.deepEqual(resolveCeleryOptions({ expires: 90 }, now), { expires: '2024-05-01T12:01:30.000Z' });
    assert.deepEqual(resolveCeleryOptions({ expires: '2024-05-01T15:00:00+02:00', priority: 0 }, now), { expires: '2024-05-01T13:00:00.000Z', priority: 0 });
    assert.deepEqual(resolveCeleryOptions({ priority: 255 }, now), { priority: 255 });
  });

  it('refuses an expires that is not in the future (INVALID_REQUEST)', () => {
    for (const expires of ['2024-05-01T12:00:00Z', '2024-05-01T11:00:00Z']) {
      assert.throws(
        () => resolveCeleryOptions({ expires }, now),
        (err: unknown) => err instanceof CelerityError && err.code === 'INVALID_OPTIONS' && /in the past/.test(err.message),
      );
    }
  });
});

describe('celery: external tasks', () => {
  it('parses GATEWAY_EXTERNAL_TASKS name@queue pairs', () => {
    assert.deepEqual(parseExternalTasks('V', undefined), []);
    assert.deepEqual(parseExternalTasks('V', 'reports.build@reports, py.x@q.a:b'), [
      { name: 'reports.build', queue: 'reports' },
      { name: 'py.x', queue: 'q.a:b' },
    ]);
  });

  it('loadGatewayConfig reads GATEWAY_EXTERNAL_TASKS (and leaves the field out when unset)', () => {
    assert.deepEqual(loadGatewayConfig({ GATEWAY_EXTERNAL_TASKS: 'r.b@reports' }).externalTasks, [{ name: 'r.b', queue: 'reports' }]);
    assert.equal('externalTasks' in loadGatewayConfig({}), false);
    assert.throws(() => loadGatewayConfig({ GATEWAY_EXTERNAL_TASKS: 'nope' }), /GATEWAY_EXTERNAL_TASKS must list name@queue pairs/);
  });

  for (const value of ['reports.build', '@q', 'x@', 'x@amq.gen', 'a b@q', 'x@q,x@r']) {
    it(`refuses ${JSON.stringify(value)} naming the variable`, () => {
      assert.throws(
        () => parseExternalTasks('GATEWAY_EXTERNAL_TASKS', value),
        (err: unknown) => err instanceof ConfigError && err.variable === 'GATEWAY_EXTERNAL_TASKS',
      );
    });
  }

  it('joins the catalogue with any arguments; a name the catalogue has is refused', async () => {
    const catalogue = new Catalogue((await demoApp()).tasks);
    const extended = catalogue.with([externalTask('py.report', 'reports')]);
    const task = extended.get('py.report');
    assert.equal(task?.external, true);
    assert.equal(task?.queue, 'reports');
    assert.ok(task && checkArguments(task, [1, 'x', { y: [] }], { k: 1 }).ok);
    assert.ok(extended.defaultQueues().includes('reports'));
    assert.equal(catalogue.get('py.report'), undefined, 'the shared catalogue is unchanged');
    assert.throws(() => catalogue.with([externalTask('demo.add', 'q')]), /declared twice/);
  });
});

function fakeStore(): { store: TaskStore; writes: TaskWrite[]; fail: { now: boolean } } {
  const writes: TaskWrite[] = [];
  const fail = { now: false };
  const store = {
    record: (write: TaskWrite) => {
      if (fail.now) return Promise.reject(new Error('database down'));
      writes.push(write);
      return Promise.resolve();
    },
  } as unknown as TaskStore;
  return { store, writes, fail };
}

const finishedAt = new Date('2024-05-01T12:00:00Z');
const reply = (id: string, extra: Partial<TaskOutcome> = {}): TaskOutcome => ({ id, state: 'SUCCESS', result: 7, finishedAt, senderRecords: false, ...extra });

/** A submission as the submitter hands it to the ledger when it names this process's reply queue. */
const published = (id: string, name: string, queue: string, owner: string | null = null): Submission => ({ id, name, queue, args: [1], kwargs: { k: 2 }, createdAt: finishedAt, fingerprint: '', owner });

/** Ported from the ReplyRecorder the task ledger replaces: the ledger records what only a reply carries. */
describe('TaskLedger: results only a reply carries', () => {
  const LONG = 60_000;

  it('records a final reply from a non-Celerity worker as the task was submitted (name, queue, owner, arguments), then answers', async () => {
    const { store, writes } = fakeStore();
    const ledger = new TaskLedger({ store, logger: createSilentLogger() });
    ledger.published(published('p1', 'demo.add', 'py', 'key-1'));
    let delivered = 0;
    void ledger.wait('p1', { timeoutMs: LONG, pollAfterMs: LONG }).then(() => delivered++);
    ledger.heard(reply('p1'));
    await turns();
    await waitFor(() => delivered === 1, 'delivery');
    assert.equal(writes.length, 1);
    assert.equal(writes[0]?.name, 'demo.add');
    assert.equal(writes[0]?.queue, 'py');
    assert.equal(writes[0]?.state, 'SUCCESS');
    assert.equal(writes[0]?.result, 7);
    assert.equal(writes[0]?.owner, 'key-1', 'what an owner reads is what it submitted');
    assert.deepEqual([writes[0]?.args, writes[0]?.kwargs], [[1], { k: 2 }]);
    assert.equal(ledger.size.entries, 0, 'committed, and nobody waits: the store answers from now on');
  });

  it('answers only once the write settled', async () => {
    const { store } = fakeStore();
    let written: () => void = () => undefined;
    const slow = { ...store, record: () => new Promise<void>((resolve) => (written = resolve)) } as unknown as TaskStore;
    const ledger = new TaskLedger({ store: slow, logger: createSilentLogger() });
    ledger.published(published('p2', 'demo.add', 'py'));
    const states: string[] = [];
    ledger.subscribe('p2', (change) => states.push(change.state));
    ledger.heard(reply('p2'));
    await turns();
    assert.deepEqual(states, ['waiting'], 'not answered before the write');
    written();
    await turns();
    assert.deepEqual(states, ['waiting', 'final-heard', 'committed']);
  });

  it('writes nothing for replies whose Celerity worker records them, for non-final states or for unknown ids', () => {
    const { store, writes } = fakeStore();
    const ledger = new TaskLedger({ store, logger: createSilentLogger() });
    ledger.published(published('c1', 'demo.add', 'q'));
    ledger.published(published('s1', 'demo.add', 'q'));
    ledger.heard(reply('c1', { senderRecords: true }));
    ledger.heard(reply('s1', { state: 'STARTED' }));
    ledger.heard(reply('stranger'));
    assert.deepEqual([ledger.stateOf('c1'), ledger.stateOf('stranger')], ['final-heard', 'final-heard'], 'heard at once');
    assert.equal(writes.length, 0);
    assert.equal(ledger.stateOf('s1'), 'published', 's1 still awaits its final reply');
  });

  it('still answers when the write fails', async () => {
    const { store, fail } = fakeStore();
    fail.now = true;
    const ledger = new TaskLedger({ store, logger: createSilentLogger() });
    ledger.published(published('f', 'demo.add', 'q'));
    let delivered = false;
    void ledger.wait('f', { timeoutMs: LONG, pollAfterMs: LONG }).then(() => (delivered = true));
    ledger.heard(reply('f', { state: 'FAILURE', error: { type: 'ValueError', message: 'x' } }));
    await waitFor(() => delivered, 'delivery despite the failed write');
  });

  it('is bounded: the oldest entry goes first; unpublished() drops one', () => {
    const { store, writes } = fakeStore();
    const one = new TaskLedger({ store, logger: createSilentLogger() });
    one.published(published('a', 'n', 'q'));
    const ledger = new TaskLedger({ store, logger: createSilentLogger(), maxBytes: 2 * one.size.bytes });
    ledger.published(published('a', 'n', 'q'));
    ledger.published(published('b', 'n', 'q'));
    ledger.published(published('c', 'n', 'q'));
    assert.equal(ledger.size.entries, 2);
    assert.equal(ledger.stateOf('a'), undefined, 'the oldest went first');
    ledger.unpublished('b');
    assert.deepEqual([ledger.stateOf('b'), ledger.size.entries], [undefined, 1]);
    ledger.heard(reply('a'));
    assert.equal(writes.length, 0, 'a was forgotten');
  });
});
