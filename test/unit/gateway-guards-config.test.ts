/** The gateway's queue allowlist, request timeouts and connection cap: read and checked at start, naming the variable. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../shared/src/core/errors.js';
import { loadGatewayConfig } from '../../shared/src/config/load.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('config: queue allowlist, timeouts, connection cap', () => {
  it('reads GATEWAY_ALLOWED_QUEUES as names and patterns, and refuses anything else', () => {
    assert.deepEqual(loadGatewayConfig({ GATEWAY_ALLOWED_QUEUES: ' reports.* , billing,*' }).allowedQueues, ['reports.*', 'billing', '*']);
    assert.equal(configError(() => loadGatewayConfig({ GATEWAY_ALLOWED_QUEUES: 'reports/eu' })).variable, 'GATEWAY_ALLOWED_QUEUES');
  });

  it('reads the timeouts and the cap, with their defaults, and refuses a body timeout under the headers timeout', () => {
    const defaults = loadGatewayConfig({});
    assert.deepEqual([defaults.headersTimeoutMs, defaults.bodyTimeoutMs, defaults.maxConnections], [10_000, 30_000, 10_000]);
    const set = loadGatewayConfig({ GATEWAY_HEADERS_TIMEOUT_MS: '2000', GATEWAY_BODY_TIMEOUT_MS: '5000', GATEWAY_MAX_CONNECTIONS: '500' });
    assert.deepEqual([set.headersTimeoutMs, set.bodyTimeoutMs, set.maxConnections], [2000, 5000, 500]);
    assert.equal(configError(() => loadGatewayConfig({ GATEWAY_HEADERS_TIMEOUT_MS: '20000', GATEWAY_BODY_TIMEOUT_MS: '5000' })).variable, 'GATEWAY_BODY_TIMEOUT_MS');
    assert.equal(configError(() => loadGatewayConfig({ GATEWAY_MAX_CONNECTIONS: '0' })).variable, 'GATEWAY_MAX_CONNECTIONS');
    assert.equal(configError(() => loadGatewayConfig({ GATEWAY_HEADERS_TIMEOUT_MS: 'soon' })).variable, 'GATEWAY_HEADERS_TIMEOUT_MS');
  });
});
