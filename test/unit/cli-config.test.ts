/** The settings of issue 21's start-up: log format and colours, automatic migration, and errors naming the flag the user passed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '../../shared/src/core/errors.js';
import { loadCommonConfig, loadGatewayConfig, loadWorkerConfig } from '../../shared/src/config/load.js';

const WORKER_DEFAULTS = { queues: ['demo'], cpus: 4 };

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('config: LOG_FORMAT, NO_COLOR, FORCE_COLOR', () => {
  it('LOG_FORMAT is json or pretty; unset leaves the choice to the terminal', () => {
    assert.equal(loadCommonConfig({}).logFormat, undefined);
    assert.equal(loadCommonConfig({ LOG_FORMAT: 'json' }).logFormat, 'json');
    assert.equal(loadCommonConfig({ LOG_FORMAT: 'pretty' }).logFormat, 'pretty');
    assert.equal(configErrorOf(() => loadCommonConfig({ LOG_FORMAT: 'xml' })).variable, 'LOG_FORMAT');
  });

  it('NO_COLOR (any value) turns colours off and wins over FORCE_COLOR; FORCE_COLOR turns them on unless 0 or false', () => {
    assert.equal(loadCommonConfig({}).logColor, undefined);
    assert.equal(loadCommonConfig({ NO_COLOR: '1' }).logColor, false);
    assert.equal(loadCommonConfig({ NO_COLOR: 'yes', FORCE_COLOR: '1' }).logColor, false);
    assert.equal(loadCommonConfig({ FORCE_COLOR: '1' }).logColor, true);
    assert.equal(loadCommonConfig({ FORCE_COLOR: '3' }).logColor, true);
    assert.equal(loadCommonConfig({ FORCE_COLOR: '0' }).logColor, false);
  });
});

describe('config: AUTO_MIGRATE and --no-migrate', () => {
  it('migrates by default; AUTO_MIGRATE=false or the flag turns it off; the flag cannot turn it on', () => {
    assert.equal(loadCommonConfig({}).autoMigrate, true);
    assert.equal(loadCommonConfig({ AUTO_MIGRATE: 'false' }).autoMigrate, false);
    assert.equal(loadCommonConfig({ AUTO_MIGRATE: 'true' }).autoMigrate, true);
    assert.equal(loadWorkerConfig({}, { migrate: false }, WORKER_DEFAULTS).autoMigrate, false);
    assert.equal(loadGatewayConfig({}, { migrate: false }).autoMigrate, false);
    // commander sets migrate: true when --no-migrate is absent: the variable still decides.
    assert.equal(loadGatewayConfig({ AUTO_MIGRATE: 'false' }, { migrate: true }).autoMigrate, false);
    assert.equal(configErrorOf(() => loadCommonConfig({ AUTO_MIGRATE: 'sometimes' })).variable, 'AUTO_MIGRATE');
  });
});

describe('config: an error names the flag when the flag set the value', () => {
  it('--port and --host, not GATEWAY_PORT and GATEWAY_HOST', () => {
    const port = configErrorOf(() => loadGatewayConfig({ GATEWAY_PORT: '8080' }, { port: '99999' }));
    assert.equal(port.variable, '--port');
    assert.match(port.message, /^--port must be a whole number from 0 to 65535, got "99999"$/);
    assert.equal(configErrorOf(() => loadGatewayConfig({ GATEWAY_PORT: '99999' })).variable, 'GATEWAY_PORT');
    assert.equal(configErrorOf(() => loadGatewayConfig({}, { host: '0.0.0.0' })).variable, '--host');
    assert.equal(loadGatewayConfig({ GATEWAY_PORT: '1' }, { port: '2', host: 'localhost' }).port, 2);
  });

  it('any out-of-range port given as --port is reported as --port (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 65536, max: 10_000_000 }), (n) => configErrorOf(() => loadGatewayConfig({}, { port: String(n) })).variable === '--port'),
    );
  });

  it('the worker knows whether its metrics port was given (a given one taken is an error, the default one moves)', () => {
    assert.equal(loadWorkerConfig({}, {}, WORKER_DEFAULTS).metricsPortGiven, false);
    assert.equal(loadWorkerConfig({ WORKER_METRICS_PORT: '9400' }, {}, WORKER_DEFAULTS).metricsPortGiven, true);
    assert.equal(loadWorkerConfig({}, { metricsPort: '9500' }, WORKER_DEFAULTS).metricsPortGiven, true);
  });
});
