/** What auth/ offers the rest of Celerity: an explicit list; a new export is a decision. */
export { ApiKeyError, type ApiKeyInfo, ApiKeyStore } from './api-keys.js';
export {
  assertUsableQueue,
  QueueAllowlist,
  type QueueAllowlistOptions,
} from './queue-access.js';
export {
  formatScopes,
  maySubmitTask,
  READ_SCOPE,
  ScopeError,
} from './scopes.js';
