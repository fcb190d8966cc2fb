/**
 * `GET /api/v1/openapi.json` and `/docs` against a real gateway: the document validates as
 * OpenAPI 3.1 (@seriousme/openapi-schema-validator), describes every task of the app with its
 * schemas (positional, keyword and one-object tasks), every route the gateway serves and every
 * stable error code, and the Bearer scheme only when keys are on; `/docs` renders it in Chromium
 * from the gateway alone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { ApiKeyStore } from '../../shared/src/auth/api-keys.js';
import { ERROR_STATUS } from '../../shared/src/core/errors.js';
import { codesByStatus } from '../../gateway/src/openapi/components.js';
import { demoApp } from '../helpers/demo.js';
import { launchBrowser } from '../helpers/browser.js';
import { TestContext, http, type GatewayHandle } from '../helpers/harness.js';

type Doc = {
  openapi: string;
  security?: unknown[];
  paths: Record<string, Record<string, { operationId?: string; requestBody?: { content: Record<string, { schema: { $ref: string } }> }; 'x-celerity-task'?: { style: string } }>>;
  components: { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown> }>; responses: Record<string, unknown>; securitySchemes?: Record<string, { scheme: string }> };
};

describe('OpenAPI document and /docs', () => {
  let ctx: TestContext;
  let open: GatewayHandle;
  let keyed: GatewayHandle;
  before(async () => {
    ctx = await TestContext.create();
    open = await ctx.startGateway();
    keyed = await ctx.startGateway({ config: { authMode: 'keys' } });
  });
  after(async () => {
    await ctx.cleanup();
  });

  it('validates as OpenAPI 3.1 and lists every task of the app with its schemas', async () => {
    const { status, body: doc } = await http<Doc>(`${open.url}/api/v1/openapi.json`);
    assert.equal(status, 200);
    assert.equal(doc.openapi, '3.1.0');
    const result = await new Validator().validate(structuredClone(doc));
    assert.deepEqual(result, { valid: true });

    const tasks = (await demoApp()).tasks;
    assert.ok(tasks.length >= 6);
    for (const task of tasks) {
      const operation = doc.paths[`/api/v1/tasks/${task.name}`]?.post;
      assert.ok(operation, `no operation for ${task.name}`);
      assert.equal(operation['x-celerity-task']?.style, task.style ?? 'args');
      const ref = operation.requestBody?.content['application/json']?.schema.$ref;
      assert.equal(ref, `#/components/schemas/Submit.${task.name}`);
    }
    const operationIds = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    assert.equal(new Set(operationIds).size, operationIds.length, 'operationIds are unique');

    const schemas = doc.components.schemas;
    // Positional: demo.add's args are a pair of numbers, and required; its kwargs are empty.
    assert.deepEqual(schemas['Submit.demo.add']?.required, ['args']);
    assert.deepEqual(schemas['Submit.demo.add']?.properties?.args, { type: 'array', prefixItems: [{ type: 'number' }, { type: 'number' }], items: false, minItems: 2, maxItems: 2 });
    // Rest elements and integer bounds survive the conversion.
    assert.deepEqual(schemas['Submit.demo.flaky']?.properties?.args, { type: 'array', prefixItems: [{ type: 'integer', minimum: 0, maximum: 100 }], items: { type: 'string' }, minItems: 1 });
    // Keyword: demo.echo takes any kwargs, and neither field is required.
    assert.deepEqual(schemas['Submit.demo.echo']?.required, []);
    assert.deepEqual(schemas['Submit.demo.echo']?.properties?.kwargs, { type: 'object', propertyNames: { type: 'string' }, additionalProperties: {} });
    // One object: demo.greet's input is its kwargs (a field with a default is optional), no args.
    assert.deepEqual(schemas['Submit.demo.greet']?.required, ['kwargs']);
    assert.deepEqual(schemas['Submit.demo.greet']?.properties?.kwargs, {
      type: 'object',
      properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, shout: { default: false, type: 'boolean' } },
      required: ['name'],
    });
    assert.deepEqual(schemas['Submit.demo.greet']?.properties?.args, { type: 'array', maxItems: 0 });
    // The batch's items are one of the tasks, by name.
    assert.equal(schemas['BatchItem.demo.greet']?.properties?.name && (schemas['BatchItem.demo.greet'].properties.name as { const: string }).const, 'demo.greet');
    // Without keys: no security scheme.
    assert.equal(doc.security, undefined);
    assert.equal(doc.components.securitySchemes, undefined);
  });

  it('describes every route the gateway serves and every stable error code', async () => {
    const { body: doc } = await http<Doc>(`${open.url}/api/v1/openapi.json`);
    const described = new Set(Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`)));
    for (const route of [
      'POST /api/v1/tasks',
      'GET /api/v1/tasks',
      'GET /api/v1/tasks/{id}',
      'POST /api/v1/tasks/{id}/revoke',
      'GET /api/v1/tasks/{id}/events',
      'GET /api/v1/dead-letters',
      'POST /api/v1/dead-letters/redrive',
      'GET /api/v1/queues',
      'GET /api/v1/workers',
      'GET /api/v1/openapi.json',
      'GET /healthz',
      'GET /readyz',
      'GET /metrics',
    ]) {
      assert.ok(described.has(route), `${route} is not described`);
    }
    const errorCode = doc.components.schemas.ErrorCode as unknown as { enum: string[] };
    assert.deepEqual([...errorCode.enum].sort(), Object.keys(ERROR_STATUS).sort());
    for (const [statusCode, codes] of codesByStatus()) {
      const response = doc.components.responses[`Error${statusCode}`] as { content: { 'application/json': { schema: { properties: { error: { properties: { code: { enum: string[] } } } } } } } };
      assert.deepEqual(response.content['application/json'].schema.properties.error.properties.code.enum, codes);
    }
    // Every error the routes actually send is one of the codes: a 404 for an unknown task.
    const missing = await http<{ error: { code: string } }>(`${open.url}/api/v1/tasks/demo.nope`, { json: {} });
    assert.equal(missing.status, 404);
    assert.ok(errorCode.enum.includes(missing.body.error.code));
  });

  it('with keys on: needs a key (any scope), and declares the Bearer scheme on every /api operation', async () => {
    const refused = await http<{ error: { code: string } }>(`${keyed.url}/api/v1/openapi.json`);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'UNAUTHENTICATED');
    const key = await new ApiKeyStore(ctx.pool).create({ name: 'frontend', scopes: 'demo.add' });
    const { status, body: doc } = await http<Doc>(`${keyed.url}/api/v1/openapi.json`, { headers: { authorization: `Bearer ${key.secret}` } });
    assert.equal(status, 200);
    assert.deepEqual(doc.security, [{ apiKey: [] }]);
    assert.equal(doc.components.securitySchemes?.apiKey?.scheme, 'bearer');
    assert.ok(doc.paths['/api/v1/tasks/demo.add']?.post && '401' in ((doc.paths['/api/v1/tasks/demo.add'].post as { responses: object }).responses));
    assert.deepEqual(await new Validator().validate(structuredClone(doc) as Parameters<Validator["validate"]>[0]), { valid: true });
  });

  it('renders /docs in Chromium from the gateway alone, under its Content-Security-Policy', async () => {
    const page = await http<string>(`${open.url}/docs`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const browser = await launchBrowser();
    try {
      const elsewhere: string[] = [];
      const violations: string[] = [];
      browser.page.on('request', (request) => {
        if (!request.url().startsWith(open.url) && !request.url().startsWith('data:')) elsewhere.push(request.url());
      });
      browser.page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
      });
      await browser.page.goto(`${open.url}/docs`);
      await browser.page.locator('#operations-tasks-submit_demo_greet').waitFor();
      assert.match(await browser.page.locator('.info .title').innerText(), /Celerity gateway/);
      assert.deepEqual(elsewhere, [], 'nothing is fetched from outside the gateway');
      assert.deepEqual(violations, []);
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
    }
  });
});
