/**
 * `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of this gateway (built once, from the
 * app's tasks), and `/docs`: Swagger UI rendering it, served from the installed swagger-ui-dist
 * package (nothing is fetched from elsewhere, so helmet's `script-src 'self'` holds).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router } from 'express';
import { openApiDocument, type OpenApiOptions } from '../openapi/document.js';

/** The package's version, from the package.json above this file (in the repository or installed). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
      if (parsed.name === 'celerity' && parsed.version) return parsed.version;
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Celerity gateway API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/vendor/swagger-ui.css">
</head>
<body>
<div id="api-reference"></div>
<script src="/docs/vendor/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// An inline script would need a CSP exception; this file is the page's only code of its own.
// validatorUrl: null keeps Swagger UI from sending the document to its online validator.
const DOCS_INIT = `window.ui = SwaggerUIBundle({
  url: '/api/v1/openapi.json',
  dom_id: '#api-reference',
  validatorUrl: null,
  deepLinking: true,
  tryItOutEnabled: false,
  persistAuthorization: false,
});
`;

export function openApiRoutes(options: Omit<OpenApiOptions, 'version'>): Router {
  const router = Router();
  let document: string | undefined;
  router.get('/api/v1/openapi.json', (_req, res) => {
    document ??= JSON.stringify(openApiDocument({ ...options, version: packageVersion() }));
    res.type('application/json').send(document);
  });

  const require = createRequire(import.meta.url);
  const swaggerUi = dirname(require.resolve('swagger-ui-dist/package.json'));
  router.get(['/docs', '/docs/'], (_req, res) => res.type('html').send(DOCS_PAGE));
  router.get('/docs/init.js', (_req, res) => res.type('text/javascript').send(DOCS_INIT));
  router.get('/docs/vendor/swagger-ui.css', (_req, res) => res.sendFile(join(swaggerUi, 'swagger-ui.css')));
  router.get('/docs/vendor/swagger-ui-bundle.js', (_req, res) => res.sendFile(join(swaggerUi, 'swagger-ui-bundle.js')));
  return router;
}
