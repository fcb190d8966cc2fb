/**
 * The Standard Schema v1 interface (standardschema.dev), written out here so that task
 * definitions accept any validator that implements it — zod 4, valibot, arktype — without a
 * dependency. Only synchronous validation is supported: the gateway validates on its hot path.
 */

/** One problem a validator found, with where it was found. */
export interface StandardIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardIssue> };

/** A validator that turns unknown input into `Output` (or issues). */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** What a schema accepts (the caller's side: `client.submit` arguments). */
export type InferInput<S> = S extends StandardSchemaV1<infer I, unknown> ? I : never;
/** What a schema produces (the task's side: `run` arguments). */
export type InferOutput<S> = S extends StandardSchemaV1<unknown, infer O> ? O : never;

export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  const props = (value as { '~standard'?: { version?: unknown; validate?: unknown } })['~standard'];
  return typeof props === 'object' && props !== null && props.version === 1 && typeof props.validate === 'function';
}

/** A path as the API reports it: `args.0.name`. */
export function issuePath(root: string, issue: StandardIssue): string {
  const parts = (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p));
  return [root, ...parts].join('.');
}

/**
 * Validates synchronously. A validator that answers with a promise is refused with an issue
 * rather than awaited, so that a slow custom validator can never hold the gateway's event loop
 * or a submit open.
 */
export function validateSync<Output>(schema: StandardSchemaV1<unknown, Output>, value: unknown): StandardResult<Output> {
  const result = schema['~standard'].validate(value);
  if (result instanceof Promise) {
    // Do not leave a rejected promise unhandled; its value is not used.
    result.catch(() => undefined);
    return { issues: [{ message: 'the schema validates asynchronously; Celerity supports synchronous schemas only' }] };
  }
  return result;
}
