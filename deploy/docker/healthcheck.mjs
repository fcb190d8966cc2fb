// The image's HEALTHCHECK: exit 0 when /healthz of the gateway (GATEWAY_PORT) or of the worker
// (WORKER_METRICS_PORT) in this container answers 200, else 1. Run as `node deploy/docker/healthcheck.mjs`
// from the app's folder; node instead of curl, which slim images lack.
import { DEFAULTS } from '../../dist/shared/src/config/load.js';

const TIMEOUT_MS = 3_000;

/** A wildcard listen address is reached on loopback from inside the container. */
function reachable(host) {
  return host === undefined || host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}

function target(hostVariable, portVariable, defaultPort) {
  const port = Number(process.env[portVariable] || defaultPort);
  if (port === 0) return undefined; // that server is off
  const host = reachable(process.env[hostVariable]);
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/healthz`;
}

const targets = [
  target('GATEWAY_HOST', 'GATEWAY_PORT', DEFAULTS.gatewayPort),
  target('WORKER_METRICS_HOST', 'WORKER_METRICS_PORT', DEFAULTS.workerMetricsPort),
].filter((url) => url !== undefined);

async function healthy(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    return res.status === 200;
  } catch {
    return false;
  }
}

const results = await Promise.all(targets.map(healthy));
process.exit(results.includes(true) ? 0 : 1);
