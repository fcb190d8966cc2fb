/** Message bodies that must be one JSON object (replies, notices, events on the broker). */

/** The JSON object in `content` (UTF-8); `undefined` when it does not parse or is not an object. */
export function jsonObjectOf(content: Buffer): Record<string, unknown> | undefined {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
}
