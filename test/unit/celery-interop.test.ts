/** The pieces of Celery interoperability that need no broker: message fields, exceptions, options, replies. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkArguments,
  CelerityError,
  ConfigError,
  MessageFormatError,
  SENDER_RECORDS_KEY,
  Catalogue,
  createSilentLogger,
  decodeResultBody,
  decodeTaskMessage,
  encodeResultBody,
  encodeTaskMessage,
  expirationFor,
  externalTask,
  isExpired,
  newTaskMessage,
  loadGatewayConfig,
  parseExternalTasks,
  toCeleryException,
  type TaskOutcome,
  type TaskStore,
  type TaskWrite,
} from '../../shared/src/index.js';
import { resolveCeleryOptions } from '../../shared/src/index.js';
import { ReplyRecorder } from '../../shared/src/index.js';
import { waitFor } from './support.js';
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

  it('reports a workflow the sender embedded (callbacks, chain), and none for empty or null parts', () => {
    assert.equal(decodeTaskMessage(body(), { headers: headers() }).workflow, undefined);
    assert.equal(decodeTaskMessage(body({ callbacks: [], errbacks: null, chain: [], chord: null }), { headers: headers() }).workflow, undefined);
    const chained = decodeTaskMessage(body({ callbacks: [{ task: 'x' }], errbacks: null, chain: [{ task: 'y' }], chord: null }), { headers: headers() });
    assert.deepEqual(chained.workflow, ['callbacks', 'chain']);
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

describe('ReplyRecorder', () => {
  it('records a final reply from a non-Celerity worker under the name and queue it was sent with, then delivers it', async () => {
    const { store, writes } = fakeStore();
    const recorder = new ReplyRecorder({ store, logger: createSilentLogger() });
    recorder.expect({ id: 'p1', name: 'demo.add', queue: 'py' });
    const delivered: TaskOutcome[] = [];
    recorder.onReply(reply('p1'), (o) => delivered.push(o));
    assert.equal(delivered.length, 0, 'delivered only after the write');
    await waitFor(() => delivered.length === 1, 'delivery');
    assert.equal(writes.length, 1);
    assert.equal(writes[0]?.name, 'demo.add');
    assert.equal(writes[0]?.queue, 'py');
    assert.equal(writes[0]?.state, 'SUCCESS');
    assert.equal(writes[0]?.result, 7);
    assert.equal(recorder.size, 0);
  });

  it('writes nothing for replies whose Celerity worker records them, for non-final states or for unknown ids', () => {
    const { store, writes } = fakeStore();
    const recorder = new ReplyRecorder({ store, logger: createSilentLogger() });
    recorder.expect({ id: 'c1', name: 'demo.add', queue: 'q' });
    recorder.expect({ id: 's1', name: 'demo.add', queue: 'q' });
    const delivered: string[] = [];
    recorder.onReply(reply('c1', { senderRecords: true }), (o) => delivered.push(o.id));
    recorder.onReply(reply('s1', { state: 'STARTED' }), (o) => delivered.push(o.id));
    recorder.onReply(reply('stranger'), (o) => delivered.push(o.id));
    assert.deepEqual(delivered, ['c1', 's1', 'stranger'], 'delivered at once');
    assert.equal(writes.length, 0);
    assert.equal(recorder.size, 1, 's1 still awaits its final reply');
  });

  it('still delivers when the write fails', async () => {
    const { store, fail } = fakeStore();
    fail.now = true;
    const recorder = new ReplyRecorder({ store, logger: createSilentLogger() });
    recorder.expect({ id: 'f', name: 'demo.add', queue: 'q' });
    let delivered = false;
    recorder.onReply(reply('f', { state: 'FAILURE', error: { type: 'ValueError', message: 'x' } }), () => (delivered = true));
    await waitFor(() => delivered, 'delivery despite the failed write');
  });

  it('is bounded: the oldest expectation goes first; forget() drops one', () => {
    const { store, writes } = fakeStore();
    const recorder = new ReplyRecorder({ store, logger: createSilentLogger(), maxExpected: 2 });
    recorder.expect({ id: 'a', name: 'n', queue: 'q' });
    recorder.expect({ id: 'b', name: 'n', queue: 'q' });
    recorder.expect({ id: 'c', name: 'n', queue: 'q' });
    assert.equal(recorder.size, 2);
    recorder.onReply(reply('a'), () => undefined);
    assert.equal(writes.length, 0, 'a was forgotten');
    recorder.forget('b');
    assert.equal(recorder.size, 1);
  });
});
