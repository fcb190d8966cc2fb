/** What config/ offers the rest of Celerity: an explicit list; a new export is a decision. */
export {
  DEFAULTS,
  loadCommonConfig,
  loadGatewayConfig,
  loadWorkerConfig,
  withGatewayDefaults,
  withWorkerDefaults,
} from './load.js';
export { loadBeatSettings } from './beat.js';
export { type Env, type QueueMaxLength } from './parse.js';
export {
  type AmqpTlsOptions,
  type AuthMode,
  isLoopback,
  type MetricsAccess,
} from './security.js';
export {
  type AutoscaleBounds,
  type CommonConfig,
  type GatewayConfig,
  type GatewayFlags,
  type WorkerConfig,
  type WorkerFlags,
} from './types.js';
