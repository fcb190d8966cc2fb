/**
 * schema-shape: what `defineTask` refuses at definition. The guarantee is one-sided — a schema
 * is refused only when it can never accept the shape — so the property checks soundness on
 * random zod schemas: whenever `mayAccept` says false, no sample value of that shape validates.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { z } from 'zod';
import { mayAccept } from '../../shared/src/app/schema-shape.js';

type Schema = z.ZodType;

/** Random zod schemas from the constructors task definitions use, nested a little. */
const schemas: fc.Arbitrary<Schema> = fc.letrec<{ schema: Schema }>((tie) => ({
  schema: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<Schema>(z.string(), z.number(), z.boolean(), z.any(), z.unknown(), z.null(), z.array(z.unknown()), z.tuple([]), z.object({}), z.record(z.string(), z.unknown())),
    tie('schema').map((s) => z.array(s) as Schema),
    tie('schema').map((s) => z.tuple([s]) as Schema),
    tie('schema').map((s) => z.object({ a: s }).partial() as Schema),
    tie('schema').map((s) => s.optional() as Schema),
    tie('schema').map((s) => s.nullable() as Schema),
    tie('schema').map((s) => s.transform((v) => v) as Schema),
    tie('schema').map((s) => s.catch(undefined as never) as Schema),
    fc.tuple(tie('schema'), tie('schema')).map(([a, b]) => z.union([a, b]) as Schema),
    fc.tuple(tie('schema'), tie('schema')).map(([a, b]) => z.intersection(a, b) as Schema),
  ),
})).schema;

/** Values of each shape a message could carry there. */
const SAMPLES = {
  array: [[], [1], ['a'], [{}], [[]], [null], [true], [{ a: 1 }]],
  object: [{}, { a: 1 }, { a: 'x' }, { a: [] }, { a: null }, { a: {} }],
} as const;

describe('schema-shape', () => {
  it('never refuses a schema that accepts a value of the shape (property)', () => {
    fc.assert(
      fc.property(schemas, fc.constantFrom<'array' | 'object'>('array', 'object'), (schema, shape) => {
        if (mayAccept(schema, shape) !== false) return;
        for (const sample of SAMPLES[shape]) {
          assert.equal(schema.safeParse(sample).success, false, `refused, yet accepts ${JSON.stringify(sample)}`);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses the common mistakes and accepts what may fit', () => {
    assert.equal(mayAccept(z.object({ url: z.string() }), 'array'), false);
    assert.equal(mayAccept(z.object({ url: z.string() }).optional(), 'array'), false);
    assert.equal(mayAccept(z.string(), 'array'), false);
    assert.equal(mayAccept(z.tuple([z.string()]), 'object'), false);
    assert.equal(mayAccept(z.tuple([z.string()]), 'array'), true);
    assert.equal(mayAccept(z.union([z.object({}), z.tuple([])]), 'array'), true);
    assert.equal(mayAccept(z.any(), 'array'), true);
    // Not a zod schema: its shape cannot be told, so it is not refused.
    assert.equal(mayAccept({ '~standard': { version: 1, vendor: 'x', validate: () => ({ value: [] }) } }, 'array'), undefined);
  });
});
