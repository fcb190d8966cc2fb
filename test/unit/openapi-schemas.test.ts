/**
 * The task schemas in the OpenAPI document agree with the gateway's own validation: for the
 * demo app's tasks, a JSON Schema validator (ajv, draft 2020-12) accepts exactly the arguments
 * `checkArguments` accepts (property-tested with fast-check). And schemas from other validators
 * are described through Standard JSON Schema, or as open when they cannot be.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { Catalogue, checkArguments, collectTasks, type StandardSchemaV1 } from '../../shared/src/app/index.js';
import { openApiDocument } from '../../gateway/src/openapi/document.js';
import { inputJsonSchema } from '../../gateway/src/openapi/json-schema.js';
import * as demo from '../../examples/demo/tasks.js';

const catalogue = new Catalogue(collectTasks(demo, 'demo'));
const doc = openApiDocument({ catalogue, keysOn: false, maxBatch: 10, maxWaitS: 60, dashboard: false, version: '0.0.0' }) as {
  components: { schemas: Record<string, { properties: { args?: object; kwargs?: object } }> };
};

const value = fc.oneof(fc.integer({ min: -5, max: 120 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ maxLength: 3 }), fc.boolean(), fc.constant(null));
const argsArb = fc.array(value, { maxLength: 4 });
const kwargsArb = fc.oneof(
  fc.constant({}),
  fc.record({ name: fc.oneof(fc.string({ maxLength: 110 }), fc.integer()), shout: fc.oneof(fc.boolean(), fc.string({ maxLength: 2 })) }, { requiredKeys: [] }),
  fc.dictionary(fc.constantFrom('a', 'name', 'x'), value, { maxKeys: 2 }),
);

describe('OpenAPI task schemas', () => {
  for (const name of ['demo.add', 'demo.greet', 'demo.echo', 'demo.sleep', 'demo.flaky', 'demo.fib']) {
    it(`${name}: the document's schema accepts what the gateway accepts`, () => {
      const task = catalogue.get(name);
      assert.ok(task);
      const body = doc.components.schemas[`Submit.${name}`];
      assert.ok(body);
      const ajv = new Ajv2020({ strict: false });
      const args = ajv.compile(body.properties.args ?? {});
      const kwargs = ajv.compile(body.properties.kwargs ?? {});
      fc.assert(
        fc.property(argsArb, kwargsArb, (a, k) => {
          const gateway = checkArguments(task, a, k).ok;
          const described = args(a) && kwargs(k);
          assert.equal(described, gateway, `args ${JSON.stringify(a)} kwargs ${JSON.stringify(k)}`);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('describes another validator through Standard JSON Schema, or as open', () => {
    const validate = (v: unknown) => ({ value: v });
    const described: StandardSchemaV1 = {
      '~standard': { version: 1, vendor: 'x', validate, jsonSchema: { input: () => ({ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'array' }) } } as StandardSchemaV1['~standard'],
    };
    assert.deepEqual(inputJsonSchema(described), { type: 'array' });
    const opaque: StandardSchemaV1 = { '~standard': { version: 1, vendor: 'y', validate } };
    assert.deepEqual(inputJsonSchema(opaque), {});
    const broken: StandardSchemaV1 = {
      '~standard': { version: 1, vendor: 'z', validate, jsonSchema: { input: () => { throw new Error('cannot'); } } } as StandardSchemaV1['~standard'],
    };
    assert.deepEqual(inputJsonSchema(broken), {});
  });
});
