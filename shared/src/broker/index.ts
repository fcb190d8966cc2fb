/** What broker/ offers the rest of Celerity: an explicit list; a new export is a decision. */
export {
  applyTopology,
  declareEventExchange,
  declareReplyQueue,
  declareTaskQueue,
  QueueMismatchError,
} from './apply-topology.js';
export {
  argsWith,
  readSignature,
  type Signature,
  signatureTaskId,
} from './canvas.js';
export { BrokerAuthError, BrokerUnreachableError } from './connection-errors.js';
export { Broker, connectBroker } from './connection.js';
export {
  DEAD_LETTER_SUFFIX,
  deadLetterOptions,
  deadLetterQueueName,
  type DeadReason,
  type DeliveredProperties,
  listDeadLetters,
  publishProperties,
  republishHeaders,
} from './dead-letters.js';
export { DeclaredQueues, DeclaredTopology } from './declared-topology.js';
export { DELAY_HEADER, delayLevelFor, parseEta } from './delay.js';
export {
  type CelerityEvent,
  decodeEvent,
  EVENT_EXCHANGE,
  eventRoutingKey,
  type EventType,
  utcOffsetHours,
  type WorkerEventFields,
} from './events.js';
export { eachOnTransientChannel, ManagedChannel, withChannel } from './managed-channel.js';
export {
  type CanvasPlace,
  CONTENT_ENCODING,
  CONTENT_TYPE,
  decodeTaskMessage,
  encodeTaskMessage,
  isExpired,
  MAX_MESSAGE_TTL_MS,
  MessageFormatError,
  newTaskMessage,
  OWNER_HEADER,
  type TaskMessage,
} from './protocol.js';
export { deadLetterTarget, delayedTarget, taskTarget } from './publish-target.js';
export { Publisher } from './publisher.js';
export { publishedAt, publishTimeHeaders, queueWaitSeconds } from './queue-wait.js';
export { redriveDeadLetters, type RedriveParts } from './redrive.js';
export {
  RevokeBroadcaster,
  RevokeListener,
  type RevokeNotice,
} from './revoke-broadcast.js';
export { decodeResultBody, encodeResultBody, type TaskOutcome } from './results.js';
export {
  CLASSIC_QUEUES,
  describeTopology,
  eventMonitorTopology,
  type QueueSpec,
  queueTypeOf,
  QUORUM_DELIVERY_LIMIT,
  REPLY_QUEUE_PREFIX,
  SERVER_NAMED,
  TASK_EVENTS_EXCHANGE,
  taskEventsTopology,
  taskFeedTopology,
  type Topology,
} from './topology.js';
export { ControlClient, type ControlReply } from './control-client.js';
export {
  decodeControlMessage,
  isForWorker,
  pidboxQueueName,
  type ControlCommand,
  type ControlRequest,
} from './pidbox.js';
export { pidboxNodeTopology, taskQueueArguments } from './topology.js';
