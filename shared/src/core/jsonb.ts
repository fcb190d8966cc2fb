/**
 * What PostgreSQL's `jsonb` (and `text`) can store, checked before a value reaches the store.
 *
 * JSON allows more than `jsonb` takes: PostgreSQL refuses the character U+0000 anywhere in a
 * string or a key (22P05 "unsupported Unicode escape sequence") and a lone UTF-16 surrogate
 * (`"\ud800"`, 22P02/22P05), and a document nested past its stack depth (54001). JavaScript
 * adds values JSON cannot carry at all: a BigInt, a cycle, a function or a symbol.
 *
 * The rule (docs/reliability.md, "Values the store refuses"): the gateway answers 400
 * INVALID_ARGUMENTS naming the first offending field; a worker fails such a task (arguments
 * from a foreign client: `InvalidArgumentsError`; a result: `UnstorableResult`), acks it and
 * moves on; the store refuses such a write on its own (UNSTORABLE_VALUE) before it joins a
 * batch, so it can never poison other rows.
 */
import { CelerityError } from './errors.js';

/** Deepest nesting accepted in args, kwargs and results (PostgreSQL's own limit is near 10k levels, stack-bound). */
export const MAX_JSON_DEPTH = 1000;

export interface UnstorableValue {
  /** Where, e.g. `args[0].name` or `kwargs["a b"]`. */
  path: string;
  /** Why, in words. */
  reason: string;
  /** `json`: JSON cannot carry it at all (BigInt, cycle, function, symbol); `jsonb`: PostgreSQL refuses it. */
  kind: 'json' | 'jsonb';
}

// Matches U+0000 or a surrogate without its pair. Without the `u` flag a regex reads UTF-16
// code units, which is what a lone surrogate is; each test is linear in the string.
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what must be found
const UNSTORABLE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why PostgreSQL would refuse `text` in a string, or undefined when it would not. */
export function unstorableTextReason(text: string): string | undefined {
  const match = UNSTORABLE_TEXT.exec(text);
  if (!match) return undefined;
  return match[0] === '\u0000'
    ? `contains the character U+0000 at offset ${match.index}, which PostgreSQL cannot store`
    : `contains a lone UTF-16 surrogate at offset ${match.index}, which is not valid Unicode`;
}

/** Replaces U+0000 and lone surrogates with U+FFFD, for free text (error messages) that must be stored anyway. */
export function toStorableText(text: string): string {
  if (!UNSTORABLE_TEXT.test(text)) return text;
  return text.replace(new RegExp(UNSTORABLE_TEXT.source, 'g'), '\uFFFD');
}

const MAX_KEY_SHOWN = 64;

function keyPath(parent: string, key: string): string {
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) && key.length <= MAX_KEY_SHOWN) return `${parent}.${key}`;
  // JSON.stringify escapes U+0000 and lone surrogates, so the path itself is storable text.
  const shown = key.length > MAX_KEY_SHOWN ? `${key.slice(0, MAX_KEY_SHOWN)}…` : key;
  return `${parent}[${JSON.stringify(shown)}]`;
}

/**
 * The first part of `value` that `jsonb` would refuse or JSON cannot carry, depth first;
 * undefined when the whole value is storable. Iterative (no recursion limit of its own) and
 * linear in the size of the value. Objects with a `toJSON` method (a Date) are taken as JSON
 * will write them and not walked into.
 *
 * @param root how the path starts, e.g. `args`. @default '$'
 */
export function findUnstorable(value: unknown, root = '$'): UnstorableValue | undefined {
  // Each entry: a value to check at a path and depth; `exit` entries pop the ancestor set
  // (cycle detection needs the chain of ancestors, not every object seen: a shared subtree is fine).
  type Entry = { value: unknown; path: string; depth: number } | { exit: object };
  const stack: Entry[] = [{ value, path: root, depth: 0 }];
  const ancestors = new Set<object>();
  while (stack.length > 0) {
    const entry = stack.pop() as Entry;
    if ('exit' in entry) {
      ancestors.delete(entry.exit);
      continue;
    }
    const { value: v, path, depth } = entry;
    switch (typeof v) {
      case 'string': {
        const reason = unstorableTextReason(v);
        if (reason) return { path, reason, kind: 'jsonb' };
        continue;
      }
      case 'bigint':
        return { path, reason: 'is a BigInt, which JSON cannot carry', kind: 'json' };
      case 'function':
        return { path, reason: 'is a function, which JSON cannot carry', kind: 'json' };
      case 'symbol':
        return { path, reason: 'is a symbol, which JSON cannot carry', kind: 'json' };
      case 'object':
        break;
      default:
        continue;
    }
    if (v === null) continue;
    const obj: object = v;
    if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') continue;
    if (ancestors.has(obj)) return { path, reason: 'refers back to one of its own containers (a cycle), which JSON cannot carry', kind: 'json' };
    if (depth >= MAX_JSON_DEPTH) return { path, reason: `is nested deeper than ${MAX_JSON_DEPTH} levels`, kind: 'jsonb' };
    ancestors.add(obj);
    stack.push({ exit: obj });
    // Pushed in reverse so that the first offending field in document order is found first.
    if (Array.isArray(obj)) {
      for (let i = obj.length - 1; i >= 0; i--) stack.push({ value: obj[i] as unknown, path: `${path}[${i}]`, depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(obj);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      const child = (obj as Record<string, unknown>)[key];
      // JSON.stringify leaves out undefined members; a function member is refused above.
      if (child === undefined) continue;
      stack.push({ value: child, path: keyPath(path, key), depth: depth + 1 });
    }
    // A key is checked after its value is queued, so report keys before values of the same object.
    for (const key of keys) {
      const reason = unstorableTextReason(key);
      if (reason) return { path: keyPath(path, key), reason: `has a key that ${reason}`, kind: 'jsonb' };
    }
  }
  return undefined;
}

/**
 * Throws INVALID_ARGUMENTS naming the first field of `args`/`kwargs` that the store would
 * refuse; what the gateway calls before it accepts a submit.
 */
export function assertStorableArguments(args: unknown, kwargs: unknown): void {
  const bad = findUnstorable(args, 'args') ?? findUnstorable(kwargs, 'kwargs');
  if (bad) throw new CelerityError('INVALID_ARGUMENTS', `${bad.path} ${bad.reason}`);
}
