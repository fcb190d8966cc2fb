/** The public entry of shared/: gateway/ and worker/ import from here only. */
export * from './errors.js';
export * from './task.js';
export * from './config.js';
export * from './logger.js';
export * from './catalogue.js';
export * from './metrics.js';
export * from './amqp/topology.js';
export * from './amqp/protocol.js';
export * from './amqp/connection.js';
export * from './amqp/publisher.js';
export * from './db/pool.js';
export * from './db/migrate.js';
export * from './db/store.js';
export * from './db/pg-errors.js';
export { BatchWriter, type BatchWriterOptions } from './db/batch-writer.js';
export { MIGRATIONS, type Migration } from './db/migrations.js';
export * from './auth/scopes.js';
export * from './auth/api-keys.js';
