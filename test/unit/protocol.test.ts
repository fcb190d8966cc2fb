import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MessageFormatError,
  decodeTaskMessage,
  encodeTaskMessage,
  newTaskMessage,
  type IncomingProperties,
  type TaskMessage,
} from '../../shared/src/broker/protocol.js';
import { decodeResultBody, encodeResultBody } from '../../shared/src/broker/results.js';

function fullMessage(overrides: Partial<TaskMessage> = {}): TaskMessage {
  return {
    id: 'c0ffee00-0000-4000-8000-000000000001',
    name: 'demo.add',
    args: [1, 2],
    kwargs: {},
    retries: 2,
    rootId: 'root-1',
    parentId: 'parent-1',
    group: 'group-1',
    eta: null,
    expires: null,
    timelimit: [30, 25],
    replyTo: 'amq.gen-reply',
    ignoreResult: false,
    origin: '42@host',
    priority: null,
    ...overrides,
  };
}

/** What amqplib hands a consumer: the publish options become the delivery's properties. */
function asDelivered(encoded: ReturnType<typeof encodeTaskMessage>): [Buffer, IncomingProperties] {
  const o = encoded.options;
  return [
    encoded.content,
    {
      contentType: o.contentType,
      contentEncoding: o.contentEncoding,
      correlationId: o.correlationId,
      replyTo: o.replyTo,
      priority: o.priority,
      headers: o.headers as Record<string, unknown>,
    },
  ];
}

function assertFormatError(fn: () => unknown, code: MessageFormatError['code']): MessageFormatError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MessageFormatError, `expected MessageFormatError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.equal(caught.name, 'MessageFormatError');
  return caught;
}

describe('protocol: encodeTaskMessage (Celery protocol v2)', () => {
  it('writes the v2 headers', () => {
    const { options } = encodeTaskMessage(fullMessage());
    const headers = options.headers as Record<string, unknown>;
    assert.equal(headers.lang, 'py');
    assert.equal(headers.task, 'demo.add');
    assert.equal(headers.id, 'c0ffee00-0000-4000-8000-000000000001');
    assert.equal(headers.root_id, 'root-1');
    assert.equal(headers.parent_id, 'parent-1');
    assert.equal(headers.group, 'group-1');
    assert.equal(headers.retries, 2);
    assert.deepEqual(headers.timelimit, [30, 25]);
    assert.equal(headers.argsrepr, '[1,2]');
    assert.equal(headers.kwargsrepr, '{}');
    assert.equal(headers.origin, '42@host');
    assert.equal(headers.ignore_result, false);
    assert.equal(headers.eta, null);
    assert.equal(headers.expires, null);
  });

  it('sets the AMQP properties Celery expects', () => {
    const { options } = encodeTaskMessage(fullMessage());
    assert.equal(options.correlationId, 'c0ffee00-0000-4000-8000-000000000001');
    assert.equal(options.contentType, 'application/json');
    assert.equal(options.contentEncoding, 'utf-8');
    assert.equal(options.deliveryMode, 2);
    assert.equal(options.replyTo, 'amq.gen-reply');
    assert.equal(options.priority, undefined);
  });

  it('leaves reply_to out when there is none and sets priority when given', () => {
    const { options } = encodeTaskMessage(fullMessage({ replyTo: null, priority: 5 }));
    assert.equal(options.replyTo, undefined);
    assert.equal(options.priority, 5);
  });

  it('writes the body as [args, kwargs, embed]', () => {
    const { content } = encodeTaskMessage(fullMessage({ args: [1, 'two'], kwargs: { three: 3 } }));
    assert.deepEqual(JSON.parse(content.toString('utf8')), [
      [1, 'two'],
      { three: 3 },
      { callbacks: null, errbacks: null, chain: null, chord: null },
    ]);
  });

  it('truncates long argsrepr to 1024 characters', () => {
    const { options } = encodeTaskMessage(fullMessage({ name: 'demo.echo', args: ['x'.repeat(5000)] }));
    const argsrepr = (options.headers as Record<string, unknown>).argsrepr as string;
    assert.equal(argsrepr.length, 1024);
    assert.ok(argsrepr.endsWith('...'));
  });

  it('newTaskMessage makes the task its own root, with no parent, retries 0 and an origin', () => {
    const m = newTaskMessage({ id: 'id-1', name: 'demo.echo', args: [], kwargs: {} });
    assert.equal(m.rootId, 'id-1');
    assert.equal(m.parentId, null);
    assert.equal(m.retries, 0);
    assert.equal(m.replyTo, null);
    assert.deepEqual(m.timelimit, [null, null]);
    assert.match(m.origin ?? '', /^\d+@.+/);
  });
});

describe('protocol: decodeTaskMessage', () => {
  it('round-trips every field', () => {
    const original = fullMessage({ priority: 3 });
    assert.deepEqual(decodeTaskMessage(...asDelivered(encodeTaskMessage(original))), original);
  });

  it('round-trips unicode and nested JSON arguments', () => {
    const original = fullMessage({
      name: 'demo.echo',
      args: ['héllo wörld', '日本語', '🚀 emoji', { nested: [1, { deeper: [true, null, 'ç'] }] }],
      kwargs: { 'clé': 'välue', list: [[1, 2], [3]], obj: { a: { b: { c: 'd' } } } },
    });
    const decoded = decodeTaskMessage(...asDelivered(encodeTaskMessage(original)));
    assert.deepEqual(decoded.args, original.args);
    assert.deepEqual(decoded.kwargs, original.kwargs);
  });

  it('takes the id from correlation_id when the id header is missing', () => {
    const content = Buffer.from(JSON.stringify([[1, 2], {}, {}]));
    const decoded = decodeTaskMessage(content, { correlationId: 'from-correlation', headers: { task: 'demo.add' } });
    assert.equal(decoded.id, 'from-correlation');
    assert.equal(decoded.rootId, 'from-correlation');
    assert.equal(decoded.name, 'demo.add');
    assert.deepEqual(decoded.timelimit, [null, null]);
    assert.equal(decoded.retries, 0);
    assert.equal(decoded.replyTo, null);
  });

  it('treats a missing content type as JSON', () => {
    const content = Buffer.from(JSON.stringify([[], {}, {}]));
    const decoded = decodeTaskMessage(content, { headers: { id: 'x', task: 'demo.echo' } });
    assert.equal(decoded.id, 'x');
  });

  it('refuses a message without headers (MISSING_HEADERS)', () => {
    const content = Buffer.from(JSON.stringify([[], {}, {}]));
    const err = assertFormatError(() => decodeTaskMessage(content, { contentType: 'application/json' }), 'MISSING_HEADERS');
    assert.deepEqual(err.partial, {});
  });

  it('refuses a message without a task header, keeping the id it has', () => {
    const content = Buffer.from(JSON.stringify([[], {}, {}]));
    const err = assertFormatError(() => decodeTaskMessage(content, { headers: { id: 'only-id' } }), 'MISSING_HEADERS');
    assert.deepEqual(err.partial, { id: 'only-id' });
  });

  it('refuses a body that is not JSON (NOT_JSON), keeping id and name', () => {
    const err = assertFormatError(
      () => decodeTaskMessage(Buffer.from('{not json'), { contentType: 'application/json', headers: { id: 'i', task: 't' } }),
      'NOT_JSON',
    );
    assert.deepEqual(err.partial, { id: 'i', name: 't' });
  });

  it('refuses an unsupported content type (UNSUPPORTED_CONTENT_TYPE)', () => {
    for (const contentType of ['application/x-python-serialize', 'application/x-yaml', 'text/plain']) {
      assertFormatError(
        () => decodeTaskMessage(Buffer.from('[[], {}, {}]'), { contentType, headers: { id: 'i', task: 't' } }),
        'UNSUPPORTED_CONTENT_TYPE',
      );
    }
  });

  for (const [label, body] of [
    ['an object', { args: [], kwargs: {} }],
    ['a string', 'hello'],
    ['null', null],
    ['args not an array', [{}, {}, {}]],
    ['kwargs an array', [[], [], {}]],
    ['kwargs null', [[], null, {}]],
    ['an empty array', []],
  ] as const) {
    it(`refuses a body that is ${label} (BAD_BODY)`, () => {
      assertFormatError(
        () => decodeTaskMessage(Buffer.from(JSON.stringify(body)), { contentType: 'application/json', headers: { id: 'i', task: 't' } }),
        'BAD_BODY',
      );
    });
  }
});

describe('protocol: result bodies (rpc:// backend)', () => {
  const finishedAt = new Date('2024-05-01T12:00:00.123Z');
  const startedAt = new Date('2024-05-01T11:59:59.000Z');

  it('round-trips a SUCCESS outcome', () => {
    const body = encodeResultBody({
      id: 't1',
      state: 'SUCCESS',
      result: { sum: 3, text: 'ünïcode' },
      finishedAt,
      startedAt,
      worker: 'celerity@h:1',
      retries: 1,
    });
    const outcome = decodeResultBody(body);
    assert.ok(outcome);
    assert.equal(outcome.id, 't1');
    assert.equal(outcome.state, 'SUCCESS');
    assert.deepEqual(outcome.result, { sum: 3, text: 'ünïcode' });
    assert.equal(outcome.error, undefined);
    assert.equal(outcome.finishedAt.toISOString(), finishedAt.toISOString());
    assert.equal(outcome.startedAt?.toISOString(), startedAt.toISOString());
    assert.equal(outcome.worker, 'celerity@h:1');
    assert.equal(outcome.retries, 1);
  });

  it('writes the fields Celery reads (task_id, status, result, traceback, children, date_done)', () => {
    const raw = JSON.parse(encodeResultBody({ id: 't1', state: 'SUCCESS', result: 5, finishedAt }).toString('utf8'));
    assert.equal(raw.task_id, 't1');
    assert.equal(raw.status, 'SUCCESS');
    assert.equal(raw.result, 5);
    assert.equal(raw.traceback, null);
    assert.deepEqual(raw.children, []);
    assert.equal(raw.date_done, finishedAt.toISOString());
  });

  it('encodes a FAILURE as a Celery exception and decodes it back', () => {
    const body = encodeResultBody({
      id: 't2',
      state: 'FAILURE',
      error: { type: 'PermanentError', message: 'boom' },
      finishedAt,
    });
    const raw = JSON.parse(body.toString('utf8'));
    assert.deepEqual(raw.result, { exc_type: 'PermanentError', exc_message: ['boom'], exc_module: 'celerity' });
    const outcome = decodeResultBody(body);
    assert.ok(outcome);
    assert.equal(outcome.state, 'FAILURE');
    assert.deepEqual(outcome.error, { type: 'PermanentError', message: 'boom' });
    assert.equal(outcome.result, undefined);
  });

  it("decodes a Python Celery worker's FAILURE reply", () => {
    const body = Buffer.from(
      JSON.stringify({
        task_id: 't3',
        status: 'FAILURE',
        result: { exc_type: 'ZeroDivisionError', exc_message: ['division by zero'], exc_module: 'builtins' },
        traceback: 'Traceback (most recent call last): ...',
        children: [],
        date_done: '2024-05-01T12:00:00.000000+00:00',
      }),
    );
    const outcome = decodeResultBody(body);
    assert.ok(outcome);
    assert.deepEqual(outcome.error, { type: 'ZeroDivisionError', message: 'division by zero' });
    assert.equal(outcome.traceback, 'Traceback (most recent call last): ...');
    assert.equal(outcome.finishedAt.toISOString(), '2024-05-01T12:00:00.000Z');
    assert.equal(outcome.retries, 0);
    assert.equal(outcome.worker, null);
  });

  for (const [label, text] of [
    ['not JSON', '<html>'],
    ['a JSON number', '42'],
    ['JSON null', 'null'],
    ['a JSON array', '[1, 2]'],
    ['missing task_id', '{"status": "SUCCESS", "result": 1}'],
    ['an unknown status', '{"task_id": "x", "status": "DONE", "result": 1}'],
  ] as const) {
    it(`returns undefined for a reply that is ${label}`, () => {
      assert.equal(decodeResultBody(Buffer.from(text)), undefined);
    });
  }

  it('never yields an Invalid Date for a reply with unparseable dates', () => {
    const outcome = decodeResultBody(
      Buffer.from(JSON.stringify({ task_id: 'x', status: 'SUCCESS', result: 1, date_done: 'yesterday', date_started: 'earlier' })),
    );
    assert.ok(outcome);
    assert.ok(!Number.isNaN(outcome.finishedAt.getTime()), 'finishedAt is a valid date');
    // The gateway turns startedAt into an ISO string; an Invalid Date there throws a RangeError.
    assert.ok(outcome.startedAt === null || !Number.isNaN(outcome.startedAt?.getTime()), 'startedAt is null or a valid date');
  });
});
