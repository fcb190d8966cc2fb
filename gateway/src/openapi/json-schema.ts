/**
 * A task's schema as JSON Schema (draft 2020-12, OpenAPI 3.1's dialect), from the schema itself:
 * zod 4 through `z.toJSONSchema`, any other validator through Standard JSON Schema
 * (`~standard.jsonSchema`), and "anything" for a validator that can describe neither.
 */
import { z } from 'zod';
import type { StandardSchemaV1 } from '../../../shared/src/app/index.js';

export type JsonSchema = Record<string, unknown>;

interface StandardJsonSchema {
  input: (options: { target: 'draft-2020-12' }) => JsonSchema;
}

function isZodSchema(schema: unknown): schema is z.ZodType {
  return typeof schema === 'object' && schema !== null && '_zod' in schema;
}

/** Drops the `$schema` keyword: the document's dialect already says it, once. */
function withoutDialect(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, ...rest } = schema;
  return rest;
}

/**
 * What a caller may send for `schema` (its input side: a field with a default is optional).
 * A part JSON Schema cannot express (a transform's output, a custom check) is left open, so the
 * document never refuses what the gateway accepts; the gateway's validation stays the judge.
 */
export function inputJsonSchema(schema: StandardSchemaV1): JsonSchema {
  try {
    if (isZodSchema(schema)) return withoutDialect(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }));
    const standard = (schema['~standard'] as { jsonSchema?: StandardJsonSchema }).jsonSchema;
    if (standard) return withoutDialect(standard.input({ target: 'draft-2020-12' }));
  } catch {
    // A schema that cannot be described (e.g. a cycle zod cannot express) is described as open.
  }
  return {};
}

/** A zod schema the gateway defines itself (options, query strings), as JSON Schema of its input. */
export function ownJsonSchema(schema: z.ZodType): JsonSchema {
  return withoutDialect(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }));
}
