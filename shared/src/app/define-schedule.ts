/**
 * `defineSchedule`: a periodic run of a task, declared in the app module next to the tasks and
 * exported like them. Checked at once (its name, every/cron, policies), so a mistake fails when
 * the module is imported, naming the schedule; the app loader then checks its task exists.
 */
import { CelerityError } from '../core/index.js';
import { isTask, type Task } from './define-task.js';
import { DURATION_RULE, parseDuration, parseScheduleSpec, type ScheduleSpec } from './schedule-spec.js';

/** What to do with a run that comes while the previous run of the schedule has not finished. */
export type OverlapPolicy = 'allow' | 'skip' | 'queue-one';
/** What to do with runs missed while no scheduler was leader (within the catch-up window). */
export type CatchUpPolicy = 'once' | 'all' | 'skip';

const OVERLAP_POLICIES: readonly OverlapPolicy[] = ['allow', 'skip', 'queue-one'];
const CATCH_UP_POLICIES: readonly CatchUpPolicy[] = ['once', 'all', 'skip'];
/** Names of schedules: letters, digits and `._:-`, so that one per customer (`report:42`) fits. */
const SCHEDULE_NAME_RULE = 'letters, digits, ".", "_", ":" and "-", 1 to 200 characters';
const SCHEDULE_NAME = /^[A-Za-z0-9._:-]{1,200}$/;

function isValidScheduleName(name: unknown): name is string {
  return typeof name === 'string' && SCHEDULE_NAME.test(name);
}

/** What `defineSchedule` takes. */
export interface ScheduleConfig {
  /** Unique among the app's and the stored schedules ({@link SCHEDULE_NAME_RULE}). */
  name: string;
  /** The task to run: a `defineTask` value or a task name. */
  task: Task | string;
  /** A duration ('1s', '10s', '5m', '1h'): runs at whole multiples of it since the Unix epoch. Give this or `cron`. */
  every?: string;
  /** 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first). Give this or `every`. */
  cron?: string;
  /** IANA time zone of `cron`. @default UTC */
  timezone?: string;
  /** Positional arguments of each run. @default [] */
  args?: unknown[];
  /** Keyword arguments of each run. @default {} */
  kwargs?: Record<string, unknown>;
  /** Submit options of each run (queue, priority, expires, maxRetries, timeLimit, softTimeLimit). */
  options?: Record<string, unknown>;
  /** A run while the previous one has not finished: fired anyway, skipped, or held until it finishes (one held at most). @default 'allow' */
  overlap?: OverlapPolicy;
  /** Runs missed while no scheduler led: fire the latest only, fire each, or fire none. @default 'once' */
  catchUp?: CatchUpPolicy;
  /** Runs missed longer ago than this are never fired (a duration). @default '1h' */
  catchUpWindow?: string;
}

/** A schedule, checked: what the scheduler, the gateway and the client use. */
export interface ScheduleDefinition {
  name: string;
  task: string;
  spec: ScheduleSpec;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  catchUpWindowMs: number;
  catchUpWindow: string;
}

const SCHEDULE_BRAND: unique symbol = Symbol.for('celerity.schedule');

/** A schedule defined in an app module. */
export interface Schedule extends ScheduleDefinition {
  readonly [SCHEDULE_BRAND]: true;
}

export function isSchedule(value: unknown): value is Schedule {
  return typeof value === 'object' && value !== null && (value as Record<PropertyKey, unknown>)[SCHEDULE_BRAND] === true;
}

const DEFAULT_CATCH_UP_WINDOW = '1h';

function refuse(name: unknown, message: string): never {
  throw new CelerityError('INVALID_SCHEDULE', `schedule ${typeof name === 'string' ? JSON.stringify(name) : '?'}: ${message}`);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks a schedule's config (from `defineSchedule` or the schedules API) and returns its
 * definition; throws `INVALID_SCHEDULE` naming the schedule and the field.
 */
export function checkSchedule(config: ScheduleConfig): ScheduleDefinition {
  const name: unknown = (config as { name?: unknown } | undefined)?.name;
  if (!isValidScheduleName(name)) refuse(name, `name must be ${SCHEDULE_NAME_RULE}`);
  const task = isTask(config.task) ? config.task.name : config.task;
  if (typeof task !== 'string' || task === '') refuse(name, 'task must be a defineTask value or a task name');
  const spec = parseScheduleSpec(name, config);
  if (config.args !== undefined && !Array.isArray(config.args)) refuse(name, 'args must be an array');
  if (config.kwargs !== undefined && !isPlainObject(config.kwargs)) refuse(name, 'kwargs must be an object');
  if (config.options !== undefined && !isPlainObject(config.options)) refuse(name, 'options must be an object');
  const overlap = config.overlap ?? 'allow';
  if (!OVERLAP_POLICIES.includes(overlap)) refuse(name, `overlap must be ${OVERLAP_POLICIES.join(', ')}`);
  const catchUp = config.catchUp ?? 'once';
  if (!CATCH_UP_POLICIES.includes(catchUp)) refuse(name, `catchUp must be ${CATCH_UP_POLICIES.join(', ')}`);
  const catchUpWindow = config.catchUpWindow ?? DEFAULT_CATCH_UP_WINDOW;
  const catchUpWindowMs = parseDuration(catchUpWindow);
  if (catchUpWindowMs === undefined) refuse(name, `catchUpWindow must be ${DURATION_RULE}`);
  return {
    name,
    task,
    spec,
    args: config.args ?? [],
    kwargs: config.kwargs ?? {},
    options: config.options ?? {},
    overlap,
    catchUp,
    catchUpWindow,
    catchUpWindowMs,
  };
}

/**
 * Declares a schedule: `task` runs every `every` or at each time of `cron`, fired by the one
 * leader among the processes running `celerity beat` or `celerity worker --beat`.
 *
 *   export const tick = defineSchedule({ name: 'demo.tick', task: add, every: '10s', args: [1, 2] });
 */
export function defineSchedule(config: ScheduleConfig): Schedule {
  return Object.freeze({ [SCHEDULE_BRAND]: true as const, ...checkSchedule(config) });
}

/** A definition as JSON (what is stored for a schedule created at run time, and what the API lists). */
export function scheduleToJson(definition: ScheduleDefinition): Record<string, unknown> {
  const { spec } = definition;
  return {
    name: definition.name,
    task: definition.task,
    ...(spec.kind === 'every' ? { every: spec.every } : { cron: spec.cron, ...(spec.timezone ? { timezone: spec.timezone } : {}) }),
    args: definition.args,
    kwargs: definition.kwargs,
    options: definition.options,
    overlap: definition.overlap,
    catchUp: definition.catchUp,
    catchUpWindow: definition.catchUpWindow,
  };
}
