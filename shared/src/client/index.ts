/**
 * The Node client as users import it (`celerity/client`, and through the package root): the
 * factory, the handle, the outcome errors and the option types — not the gateway's internals.
 */
export { createClient, Client, type ClientOptions, type ClientSubmitOptions, type SubmitItem } from './client.js';
export { TaskHandle, type ResultOptions } from './handle.js';
export { TaskFailedError, TaskTimeoutError, SubmitManyError, type SubmitManyOutcome } from './errors.js';
export type { SubmitOptions } from '../submit/index.js';
export type { SubmitCall, SubmitResult, TaskNameOf } from './submit-types.js';
export type { RunView, ScheduleChanges, ScheduleView } from '../schedule/index.js';
export { chain, chord, group, type Workflow, WorkflowHandle } from './canvas.js';
export type { StepOptions, TaskSignature } from '../app/index.js';
export type { WorkflowRepresentation } from '../submit/index.js';
