/** Where integration tests find the real services (`npm test` exports both). */
export const TEST_AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://celerity:celerity@127.0.0.1:5432/celerity_test';
