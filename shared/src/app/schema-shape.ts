/**
 * Whether a schema can accept an array (positional args) or an object (kwargs, one-object
 * input), told from the schema's definition before anything is validated. A task whose `args`
 * schema takes only objects can never be called — every message carries an array there — so
 * `defineTask` refuses it when the task is defined rather than at each call.
 *
 * Only zod schemas describe their shape at run time (`_zod.def`); Standard Schema v1 gives no
 * way to ask, so another validator is trusted (`undefined`: cannot tell).
 */

/** The shape a task's schema is asked about. */
export type ValueShape = 'array' | 'object';

interface ZodDef {
  type?: unknown;
  innerType?: unknown;
  in?: unknown;
  options?: unknown;
}

function zodDef(schema: unknown): ZodDef | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const internals = (schema as { _zod?: { def?: unknown } })._zod;
  const def = internals?.def;
  return typeof def === 'object' && def !== null ? def : undefined;
}

/** Wrappers whose input is their inner schema's input (or undefined/null, which we do not ask about). */
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'nonoptional']);
/**
 * Schemas that may accept anything, or whose answer is not worth guessing: nothing to refuse.
 * `catch` turns any refusal into its value; zod merges an intersection's two results in ways a
 * property test showed are not the "both sides accept" a reading of the definition gives.
 */
const OPEN = new Set(['any', 'unknown', 'custom', 'lazy', 'transform', 'catch', 'success', 'intersection']);
const SHAPES: Readonly<Record<ValueShape, ReadonlySet<string>>> = {
  array: new Set(['array', 'tuple']),
  object: new Set(['object', 'record', 'looseObject', 'strictObject']),
};

/**
 * Whether `schema` may accept a value of `shape`: `false` when its definition says it never
 * can (a `z.object` asked about arrays), `true` when it may, `undefined` when it cannot be told.
 */
export function mayAccept(schema: unknown, shape: ValueShape, depth = 0): boolean | undefined {
  const def = zodDef(schema);
  if (!def || typeof def.type !== 'string' || depth > 32) return undefined;
  const type = def.type;
  if (OPEN.has(type)) return true;
  if (WRAPPERS.has(type)) return mayAccept(def.innerType, shape, depth + 1);
  // A pipe takes what its first stage takes (z.preprocess, .pipe(), .transform() chains).
  if (type === 'pipe') return mayAccept(def.in, shape, depth + 1);
  if (type === 'union' && Array.isArray(def.options)) {
    const answers = def.options.map((option: unknown) => mayAccept(option, shape, depth + 1));
    if (answers.some((a) => a !== false)) return answers.includes(true) ? true : undefined;
    return false;
  }
  return SHAPES[shape].has(type);
}
