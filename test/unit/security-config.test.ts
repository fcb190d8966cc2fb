/** Configuration of authentication, CORS, limits and TLS: validated at start, naming the variable. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../shared/src/core/errors.js';
import { loadCommonConfig, loadGatewayConfig, loadWorkerConfig } from '../../shared/src/config/load.js';

function assertConfigError(fn: () => unknown, variable: string): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.variable, variable);
    assert.ok(err.message.includes(variable));
    return err;
  }
  assert.fail(`expected a ConfigError for ${variable}`);
}

const dir = mkdtempSync(join(tmpdir(), 'celerity-config-'));
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n');

describe('config: AUTH_MODE and public addresses', () => {
  it('AUTH_MODE=keys allows a non-loopback GATEWAY_HOST', () => {
    const config = loadGatewayConfig({ GATEWAY_HOST: '0.0.0.0', AUTH_MODE: 'keys' });
    assert.equal(config.authMode, 'keys');
    assert.equal(config.authDisabled, false);
  });

  it('the refusal to bind a public address without auth names both ways out', () => {
    const err = assertConfigError(() => loadGatewayConfig({ GATEWAY_HOST: '0.0.0.0', AUTH_MODE: 'none' }), 'GATEWAY_HOST');
    assert.match(err.message, /AUTH_MODE=keys/);
    assert.match(err.message, /AUTH_DISABLED=true/);
  });

  it('refuses an unknown AUTH_MODE, and AUTH_DISABLED=true together with AUTH_MODE=keys', () => {
    assertConfigError(() => loadGatewayConfig({ AUTH_MODE: 'basic' }), 'AUTH_MODE');
    assertConfigError(() => loadGatewayConfig({ AUTH_MODE: 'keys', AUTH_DISABLED: 'true' }), 'AUTH_DISABLED');
  });
});

describe('config: CORS_ORIGINS, rate, metrics token, sizes', () => {
  it('reads a list of origins', () => {
    const config = loadGatewayConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173,https://app.example.com' });
    assert.deepEqual(config.corsOrigins, ['https://app.example.com', 'http://localhost:5173']);
  });

  for (const bad of ['app.example.com', 'https://app.example.com/', 'https://app.example.com/path', '*', 'ftp://x.example']) {
    it(`refuses CORS_ORIGINS=${bad}`, () => {
      assertConfigError(() => loadGatewayConfig({ CORS_ORIGINS: bad }), 'CORS_ORIGINS');
    });
  }

  it('reads RATE_LIMIT_PER_MINUTE, METRICS_TOKEN, GATEWAY_MAX_ARGS and WORKER_MAX_RESULT', () => {
    const config = loadGatewayConfig({ RATE_LIMIT_PER_MINUTE: '120', METRICS_TOKEN: 'a'.repeat(24), GATEWAY_MAX_ARGS: '64kb' });
    assert.equal(config.rateLimitPerMinute, 120);
    assert.equal(config.metricsToken, 'a'.repeat(24));
    assert.equal(config.maxArgsBytes, 64 * 1024);
    assert.equal(loadWorkerConfig({}, {}, { queues: ['demo'], cpus: 1 }).maxResultBytes, 1024 * 1024);
    assert.equal(loadWorkerConfig({ WORKER_MAX_RESULT: '10kb' }, {}, { queues: ['demo'], cpus: 1 }).maxResultBytes, 10 * 1024);
  });

  it('refuses a bad rate, a short metrics token and bad sizes', () => {
    assertConfigError(() => loadGatewayConfig({ RATE_LIMIT_PER_MINUTE: '0' }), 'RATE_LIMIT_PER_MINUTE');
    assertConfigError(() => loadGatewayConfig({ METRICS_TOKEN: 'short' }), 'METRICS_TOKEN');
    assertConfigError(() => loadGatewayConfig({ GATEWAY_MAX_ARGS: 'big' }), 'GATEWAY_MAX_ARGS');
    assertConfigError(() => loadWorkerConfig({ WORKER_MAX_RESULT: '-1' }, {}, { queues: ['demo'], cpus: 1 }), 'WORKER_MAX_RESULT');
  });
});

describe('config: TLS files', () => {
  it('reads AMQP_CA_FILE, AMQP_CERT_FILE, AMQP_KEY_FILE and AMQP_KEY_PASSPHRASE into the broker TLS options', () => {
    const config = loadCommonConfig({ AMQP_CA_FILE: caFile, AMQP_CERT_FILE: caFile, AMQP_KEY_FILE: caFile, AMQP_KEY_PASSPHRASE: 'pw' });
    assert.ok(config.amqpTls?.ca?.toString().includes('not checked here'));
    assert.ok(config.amqpTls?.cert && config.amqpTls.key);
    assert.equal(config.amqpTls?.passphrase, 'pw');
    assert.equal(loadCommonConfig({}).amqpTls, undefined);
  });

  it('refuses a missing file, naming the variable, and a certificate without its key', () => {
    const err = assertConfigError(() => loadCommonConfig({ AMQP_CA_FILE: join(dir, 'missing.pem') }), 'AMQP_CA_FILE');
    assert.match(err.message, /ENOENT/);
    assertConfigError(() => loadCommonConfig({ AMQP_CERT_FILE: caFile }), 'AMQP_KEY_FILE');
    assertConfigError(() => loadCommonConfig({ DATABASE_CA_FILE: join(dir, 'missing.pem') }), 'DATABASE_CA_FILE');
  });

  it('DATABASE_CA_FILE becomes sslrootcert (and sslmode=verify-full unless the URL sets a mode)', () => {
    const url = new URL(loadCommonConfig({ DATABASE_URL: 'postgres://u:p@db.internal/celerity', DATABASE_CA_FILE: caFile }).databaseUrl);
    assert.equal(url.searchParams.get('sslrootcert'), caFile);
    assert.equal(url.searchParams.get('sslmode'), 'verify-full');
    const kept = new URL(loadCommonConfig({ DATABASE_URL: 'postgres://u:p@db/c?sslmode=verify-ca', DATABASE_CA_FILE: caFile }).databaseUrl);
    assert.equal(kept.searchParams.get('sslmode'), 'verify-ca');
    assertConfigError(() => loadCommonConfig({ DATABASE_URL: 'postgres://u:p@db/c?sslrootcert=/x.pem', DATABASE_CA_FILE: caFile }), 'DATABASE_CA_FILE');
  });
});

describe('config: the worker HTTP address (WORKER_METRICS_HOST, --metrics-host)', () => {
  const WORKER = { queues: ['demo'], cpus: 1 };
  const TOKEN = 'b'.repeat(24);

  it('binds loopback by default, with /metrics open unless METRICS_TOKEN or AUTH_MODE=keys is set', () => {
    const config = loadWorkerConfig({}, {}, WORKER);
    assert.equal(config.metricsHost, '127.0.0.1');
    assert.deepEqual(config.metricsAccess, { authMode: 'none', authDisabled: false });
    assert.equal(loadWorkerConfig({ WORKER_METRICS_HOST: '127.0.0.2' }, {}, WORKER).metricsHost, '127.0.0.2');
    assert.equal(loadWorkerConfig({ WORKER_METRICS_HOST: '::1' }, {}, WORKER).metricsHost, '::1');
    assert.equal(loadWorkerConfig({ METRICS_TOKEN: TOKEN }, {}, WORKER).metricsAccess.token, TOKEN);
  });

  it('refuses a non-loopback address without authentication, naming the variable and every way out', () => {
    for (const host of ['0.0.0.0', '10.1.2.3', '::', 'worker-1.internal']) {
      const err = assertConfigError(() => loadWorkerConfig({ WORKER_METRICS_HOST: host }, {}, WORKER), 'WORKER_METRICS_HOST');
      for (const way of [/METRICS_TOKEN/, /AUTH_MODE=keys/, /AUTH_DISABLED=true/]) assert.match(err.message, way);
    }
    assertConfigError(() => loadWorkerConfig({}, { metricsHost: '0.0.0.0' }, WORKER), '--metrics-host');
  });

  it('accepts a non-loopback address with METRICS_TOKEN, AUTH_MODE=keys or AUTH_DISABLED=true', () => {
    assert.equal(loadWorkerConfig({ WORKER_METRICS_HOST: '0.0.0.0', METRICS_TOKEN: TOKEN }, {}, WORKER).metricsHost, '0.0.0.0');
    assert.equal(loadWorkerConfig({ WORKER_METRICS_HOST: '0.0.0.0', AUTH_MODE: 'keys' }, {}, WORKER).metricsAccess.authMode, 'keys');
    assert.equal(loadWorkerConfig({ WORKER_METRICS_HOST: '0.0.0.0', AUTH_DISABLED: 'true' }, {}, WORKER).metricsAccess.authDisabled, true);
    // The flag overrides the environment, both ways.
    assert.equal(loadWorkerConfig({ WORKER_METRICS_HOST: '0.0.0.0' }, { metricsHost: '127.0.0.1' }, WORKER).metricsHost, '127.0.0.1');
  });

  it('refuses a malformed address, a short METRICS_TOKEN and AUTH_DISABLED against AUTH_MODE=keys', () => {
    assertConfigError(() => loadWorkerConfig({ WORKER_METRICS_HOST: 'http://0.0.0.0' }, {}, WORKER), 'WORKER_METRICS_HOST');
    assertConfigError(() => loadWorkerConfig({}, { metricsHost: 'a b' }, WORKER), '--metrics-host');
    assertConfigError(() => loadWorkerConfig({ METRICS_TOKEN: 'short' }, {}, WORKER), 'METRICS_TOKEN');
    assertConfigError(() => loadWorkerConfig({ AUTH_MODE: 'keys', AUTH_DISABLED: 'yes' }, {}, WORKER), 'AUTH_DISABLED');
  });
});

describe('config: GATEWAY_ALLOWED_HOSTS', () => {
  it('reads a list of host names, adds a specific GATEWAY_HOST, refuses URLs', () => {
    assert.deepEqual(loadGatewayConfig({ GATEWAY_ALLOWED_HOSTS: 'App.Internal, *' }).allowedHosts, ['app.internal', '*']);
    assert.deepEqual(loadGatewayConfig({}).allowedHosts, []);
    assert.deepEqual(loadGatewayConfig({ GATEWAY_HOST: '10.0.0.5', AUTH_DISABLED: 'true' }).allowedHosts, ['10.0.0.5']);
    assert.throws(() => loadGatewayConfig({ GATEWAY_ALLOWED_HOSTS: 'https://x.example' }), /GATEWAY_ALLOWED_HOSTS/);
  });
});
