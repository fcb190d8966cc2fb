/** One style of command error: `celerity: …` (and a hint line), the URL's password hidden, and the documented exit code. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerAuthError, BrokerUnreachableError } from '../../shared/src/broker/connection-errors.js';
import { CelerityError, ConfigError } from '../../shared/src/core/errors.js';
import { SchemaVersionError } from '../../shared/src/store/migrate.js';
import { EXIT } from '../../shared/src/cli/exit-codes.js';
import { formatError } from '../../shared/src/cli/report.js';
import { databaseError } from '../../shared/src/cli/schema-check.js';

const services = { amqpUrls: ['amqp://app:s3cret@rabbit:5672'], databaseUrl: 'postgres://app:s3cret@db:5432/app' };

function lines(err: unknown, verbose = false): { lines: string[]; exitCode: number } {
  const { text, exitCode } = formatError(err, { verbose, services });
  assert.ok(!text.includes('s3cret'), text);
  return { lines: text.trimEnd().split('\n'), exitCode };
}

describe('command errors', () => {
  it('configuration: exit 2, one line naming the setting', () => {
    const out = lines(new ConfigError('--port', 'must be a whole number from 0 to 65535, got "99999"'));
    assert.equal(out.exitCode, EXIT.CONFIG);
    assert.deepEqual(out.lines, ['celerity: invalid configuration: --port must be a whole number from 0 to 65535, got "99999"']);
  });

  it('RabbitMQ unreachable: exit 3, the service, the URL without its password, the variable, and a hint that makes sense anywhere', () => {
    const out = lines(new BrokerUnreachableError('Cannot connect … (npm start starts a local one)', { cause: new Error('connect ECONNREFUSED 10.0.0.1:5672') }));
    assert.equal(out.exitCode, EXIT.UNREACHABLE);
    assert.deepEqual(out.lines, [
      'celerity: cannot reach RabbitMQ at amqp://app:***@rabbit:5672 (AMQP_URL): connect ECONNREFUSED 10.0.0.1:5672',
      'celerity: hint: is RabbitMQ running and reachable from this host? Check AMQP_URL.',
    ]);
    assert.equal(lines(new BrokerAuthError('RabbitMQ refused the connection to amqp://app:***@rabbit:5672 (reply code 403)')).exitCode, EXIT.UNREACHABLE);
  });

  it('PostgreSQL unreachable or refusing the login: exit 3, naming PostgreSQL and DATABASE_URL', () => {
    const refused = lines(databaseError(Object.assign(new Error('connect ECONNREFUSED 10.0.0.2:5432'), { code: 'ECONNREFUSED' }), services.databaseUrl));
    assert.equal(refused.exitCode, EXIT.UNREACHABLE);
    assert.match(refused.lines[0] ?? '', /^celerity: cannot reach PostgreSQL at postgres:\/\/app:\*\*\*@db:5432\/app \(DATABASE_URL\): connect ECONNREFUSED/);
    const login = lines(databaseError(Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' }), services.databaseUrl));
    assert.equal(login.exitCode, EXIT.UNREACHABLE);
    assert.match(login.lines[0] ?? '', /PostgreSQL refused the login/);
  });

  it('schema behind with --no-migrate, or ahead: exit 4, naming celerity migrate or both versions', () => {
    const behind = lines(new SchemaVersionError('SCHEMA_NOT_MIGRATED', 0, 5, 'database schema "x" is at version 0, this celerity needs 5: run `celerity migrate` (automatic migration is off)'));
    assert.equal(behind.exitCode, EXIT.SCHEMA);
    assert.match(behind.lines.join('\n'), /celerity migrate/);
    const ahead = lines(new SchemaVersionError('SCHEMA_AHEAD', 7, 5, 'database schema "x" is at version 7, newer than this celerity\'s 5'));
    assert.equal(ahead.exitCode, EXIT.SCHEMA);
    assert.match(ahead.lines[0] ?? '', /7.*5/);
  });

  it('arguments the task refuses: exit 2 with the validation message', () => {
    const out = lines(new CelerityError('INVALID_ARGUMENTS', 'args[0]: expected number, received string'));
    assert.equal(out.exitCode, EXIT.CONFIG);
    assert.deepEqual(out.lines, ['celerity: args[0]: expected number, received string']);
  });

  it('anything else: exit 1, its message, a hint to use --verbose; --verbose adds the stack and its causes', () => {
    const err = new Error('something odd', { cause: new Error('underneath') });
    const short = lines(err);
    assert.equal(short.exitCode, EXIT.FAILED);
    assert.equal(short.lines.length, 2);
    const long = lines(err, true);
    assert.ok(long.lines.some((l) => /^\s+at /.test(l)), 'the stack');
    assert.ok(long.lines.some((l) => l.startsWith('caused by: Error: underneath')), 'the cause');
  });
});
