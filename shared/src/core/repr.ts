/**
 * `repr`: the short text form of a value that Celery puts where a human reads it (the task
 * message's `argsrepr`/`kwargsrepr` headers, the `args`/`kwargs`/`result` of task events).
 * One function for both, so the two cannot drift apart.
 */

/** Longest repr, in characters, as Celery truncates them (`...` included). */
export const REPR_MAX = 1024;

/**
 * `value` as JSON, cut to REPR_MAX characters with a trailing `...`. Nothing (`undefined`) is
 * `null`, as JSON says it; a value JSON cannot hold (a cycle, a BigInt) is `<unserialisable>`.
 */
export function repr(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? 'null';
  } catch {
    text = '<unserialisable>';
  }
  return text.length > REPR_MAX ? `${text.slice(0, REPR_MAX - 3)}...` : text;
}
