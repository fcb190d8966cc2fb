import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../shared/src/core/errors.js';
import {
  DEFAULTS,
  loadCommonConfig,
  loadGatewayConfig,
  loadWorkerConfig,
} from '../../shared/src/config/load.js';
import { parseAmqpUrls, parseSize } from '../../shared/src/config/parse.js';

const WORKER_DEFAULTS = { queues: ['demo'], cpus: 4 };

/** Asserts `fn` throws a ConfigError for `variable` whose message names it. */
function assertConfigError(fn: () => unknown, variable: string): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${variable}, got ${String(caught)}`);
  assert.equal(caught.name, 'ConfigError');
  assert.equal(caught.variable, variable);
  assert.ok(caught.message.includes(variable), `message "${caught.message}" should name ${variable}`);
  return caught;
}

describe('config: defaults', () => {
  it('gateway config from an empty environment uses the defaults', () => {
    const config = loadGatewayConfig({});
    assert.deepEqual(config, {
      amqpUrls: [DEFAULTS.amqpUrl],
      databaseUrl: DEFAULTS.databaseUrl,
      databaseSchema: 'celerity',
      logLevel: 'info',
      autoMigrate: true,
      heartbeatS: 30,
      queueTypes: { default: 'classic', perQueue: {} },
      messageHeaders: 'celery',
      port: 8080,
      host: '127.0.0.1',
      maxBodyBytes: 1024 * 1024,
      maxWaitS: 300,
      maxBatch: 1000,
      authDisabled: false,
      idempotencyWindowHours: 24,
      queueMaxLength: { default: 0, perQueue: {} },
      authMode: 'none',
      corsOrigins: [],
      allowedHosts: [],
      rateLimitPerMinute: 600,
      maxArgsBytes: 256 * 1024,
      allowedQueues: [],
      maxConnections: 10_000,
      headersTimeoutMs: 10_000,
      bodyTimeoutMs: 30_000,
    });
  });

  it('worker config from an empty environment uses the defaults and the catalogue queues', () => {
    const config = loadWorkerConfig({}, {}, WORKER_DEFAULTS);
    assert.deepEqual(config.queues, ['demo']);
    assert.equal(config.concurrency, 16);
    assert.equal(config.metricsPort, 9400);
    assert.equal(config.graceMs, 30_000);
    assert.equal(config.cpuThreads, 4);
    assert.equal(config.resultRetentionHours, 24 * 7);
    assert.equal(config.timeLimitS, 1500);
    assert.equal(config.deliveryLimit, 5);
    assert.deepEqual(config.amqpUrls, [DEFAULTS.amqpUrl]);
  });

  it('blank variables count as unset', () => {
    const config = loadGatewayConfig({ GATEWAY_PORT: '   ', LOG_LEVEL: '', AMQP_URL: ' ' });
    assert.equal(config.port, 8080);
    assert.equal(config.logLevel, 'info');
    assert.deepEqual(config.amqpUrls, [DEFAULTS.amqpUrl]);
  });

  it('cpuThreads is at least 1 even when no CPU count is known', () => {
    assert.equal(loadWorkerConfig({}, {}, { queues: ['demo'], cpus: 0 }).cpuThreads, 1);
  });

  it('reads valid values', () => {
    const config = loadGatewayConfig({
      GATEWAY_PORT: '9000',
      LOG_LEVEL: 'debug',
      DATABASE_URL: 'postgresql://u:p@db:5432/x',
      DATABASE_SCHEMA: 'tenant_1',
      AMQP_HEARTBEAT_SECONDS: '0',
      GATEWAY_MAX_WAIT_SECONDS: '60',
    });
    assert.equal(config.port, 9000);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.databaseUrl, 'postgresql://u:p@db:5432/x');
    assert.equal(config.databaseSchema, 'tenant_1');
    assert.equal(config.heartbeatS, 0);
    assert.equal(config.maxWaitS, 60);
  });
});

describe('config: MESSAGE_HEADERS', () => {
  it('is celery unless set to lean, in any case; anything else is refused, naming the variable', () => {
    assert.equal(loadCommonConfig({}).messageHeaders, 'celery');
    assert.equal(loadGatewayConfig({ MESSAGE_HEADERS: 'lean' }).messageHeaders, 'lean');
    assert.equal(loadCommonConfig({ MESSAGE_HEADERS: 'Celery' }).messageHeaders, 'celery');
    const err = assertConfigError(() => loadCommonConfig({ MESSAGE_HEADERS: 'short' }), 'MESSAGE_HEADERS');
    assert.match(err.message, /celery or lean/);
  });
});

describe('config: AMQP_URL', () => {
  it('refuses a URL that is not amqp:// or amqps://', () => {
    assertConfigError(() => loadGatewayConfig({ AMQP_URL: 'http://guest:guest@localhost:5672' }), 'AMQP_URL');
    assertConfigError(() => loadGatewayConfig({ AMQP_URL: 'not a url' }), 'AMQP_URL');
    assertConfigError(() => loadWorkerConfig({ AMQP_URL: 'redis://localhost' }, {}, WORKER_DEFAULTS), 'AMQP_URL');
  });

  it('does not echo the password of a refused URL', () => {
    const err = assertConfigError(() => loadCommonConfig({ AMQP_URL: 'http://guest:hunter2@localhost' }), 'AMQP_URL');
    assert.ok(!err.message.includes('hunter2'));
  });

  it('accepts a comma-separated list of nodes, in order, ignoring blanks', () => {
    const config = loadCommonConfig({ AMQP_URL: 'amqp://a:1@node1:5672, amqps://a:1@node2:5671 ,,amqp://node3' });
    assert.deepEqual(config.amqpUrls, ['amqp://a:1@node1:5672', 'amqps://a:1@node2:5671', 'amqp://node3']);
  });

  it('refuses a list with one bad entry, and a list of nothing', () => {
    assertConfigError(() => loadCommonConfig({ AMQP_URL: 'amqp://node1,http://node2' }), 'AMQP_URL');
    assertConfigError(() => parseAmqpUrls('AMQP_URL', ' , ,'), 'AMQP_URL');
  });
});

describe('config: other variables', () => {
  it('refuses a bad DATABASE_URL and DATABASE_SCHEMA', () => {
    assertConfigError(() => loadCommonConfig({ DATABASE_URL: 'mysql://db/x' }), 'DATABASE_URL');
    assertConfigError(() => loadCommonConfig({ DATABASE_URL: '::' }), 'DATABASE_URL');
    assertConfigError(() => loadCommonConfig({ DATABASE_SCHEMA: 'Bad-Schema' }), 'DATABASE_SCHEMA');
  });

  for (const port of ['abc', '8o', '65536', '-1', '80.5']) {
    it(`refuses GATEWAY_PORT=${port}`, () => {
      assertConfigError(() => loadGatewayConfig({ GATEWAY_PORT: port }), 'GATEWAY_PORT');
    });
  }

  it('accepts GATEWAY_PORT at the bounds', () => {
    assert.equal(loadGatewayConfig({ GATEWAY_PORT: '0' }).port, 0);
    assert.equal(loadGatewayConfig({ GATEWAY_PORT: '65535' }).port, 65535);
  });

  it('reads GATEWAY_MAX_BATCH and refuses values out of range', () => {
    assert.equal(loadGatewayConfig({ GATEWAY_MAX_BATCH: '50' }).maxBatch, 50);
    for (const value of ['0', '-1', 'many', '100001']) assertConfigError(() => loadGatewayConfig({ GATEWAY_MAX_BATCH: value }), 'GATEWAY_MAX_BATCH');
  });

  it('parses GATEWAY_MAX_BODY sizes', () => {
    assert.equal(loadGatewayConfig({ GATEWAY_MAX_BODY: '1mb' }).maxBodyBytes, 1024 * 1024);
    assert.equal(loadGatewayConfig({ GATEWAY_MAX_BODY: '512kb' }).maxBodyBytes, 512 * 1024);
    assert.equal(loadGatewayConfig({ GATEWAY_MAX_BODY: '2MB' }).maxBodyBytes, 2 * 1024 * 1024);
    assert.equal(loadGatewayConfig({ GATEWAY_MAX_BODY: '1048576' }).maxBodyBytes, 1_048_576);
    assert.equal(loadGatewayConfig({ GATEWAY_MAX_BODY: '1.5kb' }).maxBodyBytes, 1536);
    assert.equal(parseSize('X', '1gb'), 1024 ** 3);
  });

  for (const size of ['abc', '1tb', 'mb', '-1mb', '0', '1 m b']) {
    it(`refuses GATEWAY_MAX_BODY=${size}`, () => {
      assertConfigError(() => loadGatewayConfig({ GATEWAY_MAX_BODY: size }), 'GATEWAY_MAX_BODY');
    });
  }

  it('refuses an unknown LOG_LEVEL and accepts every known one', () => {
    assertConfigError(() => loadGatewayConfig({ LOG_LEVEL: 'loud' }), 'LOG_LEVEL');
    assertConfigError(() => loadWorkerConfig({ LOG_LEVEL: 'trace' }, {}, WORKER_DEFAULTS), 'LOG_LEVEL');
    for (const level of ['error', 'warn', 'info', 'http', 'verbose', 'debug']) {
      assert.equal(loadCommonConfig({ LOG_LEVEL: level }).logLevel, level);
    }
  });

  it('refuses out-of-range numbers, naming each variable', () => {
    assertConfigError(() => loadCommonConfig({ AMQP_HEARTBEAT_SECONDS: '3601' }), 'AMQP_HEARTBEAT_SECONDS');
    assertConfigError(() => loadGatewayConfig({ GATEWAY_MAX_WAIT_SECONDS: '0' }), 'GATEWAY_MAX_WAIT_SECONDS');
    assertConfigError(() => loadWorkerConfig({ WORKER_CONCURRENCY: '0' }, {}, WORKER_DEFAULTS), 'WORKER_CONCURRENCY');
    assertConfigError(() => loadWorkerConfig({ WORKER_METRICS_PORT: '70000' }, {}, WORKER_DEFAULTS), 'WORKER_METRICS_PORT');
    assertConfigError(() => loadWorkerConfig({ WORKER_GRACE_MS: 'soon' }, {}, WORKER_DEFAULTS), 'WORKER_GRACE_MS');
    assertConfigError(() => loadWorkerConfig({ WORKER_CPU_THREADS: '0' }, {}, WORKER_DEFAULTS), 'WORKER_CPU_THREADS');
    assertConfigError(() => loadWorkerConfig({ RESULT_RETENTION_HOURS: '0' }, {}, WORKER_DEFAULTS), 'RESULT_RETENTION_HOURS');
  });
});

describe('config: worker queues and flags', () => {
  it('reads WORKER_QUEUES as a de-duplicated list', () => {
    const config = loadWorkerConfig({ WORKER_QUEUES: 'demo, reports ,demo,,emails:eu' }, {}, WORKER_DEFAULTS);
    assert.deepEqual(config.queues, ['demo', 'reports', 'emails:eu']);
  });

  for (const queues of ['demo,has space', 'amq.direct', 'demo,bad/slash', ',', 'x'.repeat(201)]) {
    it(`refuses WORKER_QUEUES=${queues.length > 20 ? `${queues.slice(0, 10)}… (${queues.length} chars)` : queues}`, () => {
      assertConfigError(() => loadWorkerConfig({ WORKER_QUEUES: queues }, {}, WORKER_DEFAULTS), 'WORKER_QUEUES');
    });
  }

  it('--concurrency overrides WORKER_CONCURRENCY', () => {
    const config = loadWorkerConfig({ WORKER_CONCURRENCY: '4' }, { concurrency: '32' }, WORKER_DEFAULTS);
    assert.equal(config.concurrency, 32);
    assert.equal(loadWorkerConfig({ WORKER_CONCURRENCY: '4' }, {}, WORKER_DEFAULTS).concurrency, 4);
  });

  it('a bad --concurrency is reported as the flag, even when WORKER_CONCURRENCY is valid', () => {
    assertConfigError(() => loadWorkerConfig({ WORKER_CONCURRENCY: '4' }, { concurrency: 'many' }, WORKER_DEFAULTS), '--concurrency');
  });

  it('--queues and --metrics-port override the environment and are named in errors', () => {
    const config = loadWorkerConfig({ WORKER_QUEUES: 'a', WORKER_METRICS_PORT: '1' }, { queues: 'b,c', metricsPort: '0' }, WORKER_DEFAULTS);
    assert.deepEqual(config.queues, ['b', 'c']);
    assert.equal(config.metricsPort, 0);
    assertConfigError(() => loadWorkerConfig({ WORKER_QUEUES: 'a' }, { queues: 'amq.x' }, WORKER_DEFAULTS), '--queues');
    assertConfigError(() => loadWorkerConfig({}, { metricsPort: '-5' }, WORKER_DEFAULTS), '--metrics-port');
  });
});

describe('config: GATEWAY_HOST and AUTH_DISABLED', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) {
    it(`accepts loopback host ${host} without AUTH_DISABLED`, () => {
      const config = loadGatewayConfig({ GATEWAY_HOST: host });
      assert.equal(config.host, host);
      assert.equal(config.authDisabled, false);
    });
  }

  for (const host of ['0.0.0.0', '::', '10.0.0.5', 'gateway.example.com', '128.0.0.1']) {
    it(`refuses non-loopback host ${host} unless AUTH_DISABLED=true`, () => {
      const err = assertConfigError(() => loadGatewayConfig({ GATEWAY_HOST: host }), 'GATEWAY_HOST');
      assert.match(err.message, /AUTH_DISABLED=true/);
      assertConfigError(() => loadGatewayConfig({ GATEWAY_HOST: host, AUTH_DISABLED: 'false' }), 'GATEWAY_HOST');
      const config = loadGatewayConfig({ GATEWAY_HOST: host, AUTH_DISABLED: 'true' });
      assert.equal(config.host, host);
      assert.equal(config.authDisabled, true);
    });
  }

  it('refuses an AUTH_DISABLED that is not a boolean', () => {
    assertConfigError(() => loadGatewayConfig({ GATEWAY_HOST: '0.0.0.0', AUTH_DISABLED: 'maybe' }), 'AUTH_DISABLED');
  });
});
