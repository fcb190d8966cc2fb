# syntax=docker/dockerfile:1
# One image for the gateway, the workers and the operator commands (deploy/README.md):
#   docker build -t celerity .
#   docker run celerity gateway | worker --queues demo | migrate | keys list
# Checked by test/unit/deploy.test.ts (stages, user, HEALTHCHECK, ports, COPY sources).
ARG NODE_IMAGE=node:20-bookworm-slim

# Build: every dependency, then the TypeScript compiler.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# Production dependencies only, installed apart so the build's dev dependencies never reach the image.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Runtime: the compiled command, gateway, worker and shared code, the demo app, the dashboard's files.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# The app module gateways and workers run; mount or COPY your own and point this at it.
ENV CELERITY_APP=dist/examples/demo/tasks.js
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/cli.js /app/dist/index.js ./dist/
COPY --from=build /app/dist/examples ./dist/examples
COPY --from=build /app/dist/shared ./dist/shared
COPY --from=build /app/dist/gateway/src ./dist/gateway/src
COPY --from=build /app/dist/worker/src ./dist/worker/src
COPY package.json ./
COPY gateway/dashboard ./gateway/dashboard
COPY deploy/docker/entrypoint.sh deploy/docker/healthcheck.mjs ./deploy/docker/
# The official Node images ship the unprivileged user `node` (uid 1000).
USER node
# The gateway's GATEWAY_PORT and the worker's WORKER_METRICS_PORT (defaults).
EXPOSE 8080 9400
# /healthz of whichever process this container runs (node, not curl: slim images have none).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "deploy/docker/healthcheck.mjs"]
ENTRYPOINT ["/bin/sh", "deploy/docker/entrypoint.sh"]
CMD ["gateway"]
