/**
 * Settings that decide who may reach what: authentication modes, the Host check, /metrics
 * access, and the TLS material for the broker and the database. Loopback-only listeners may go
 * without authentication; anything else must say how callers are authenticated.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError, isValidQueuePattern, QUEUE_PATTERN_RULE } from '../core/index.js';
import { read, type Env } from './parse.js';

/** `none`: no authentication (loopback only, or `AUTH_DISABLED=true`); `keys`: API keys required. */
export const AUTH_MODES = ['none', 'keys'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** TLS material for `amqps://` (amqplib passes it to `tls.connect`), read at start. */
export interface AmqpTlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
}

/**
 * Who may read `/metrics`, on the gateway and on the worker alike: with `token` (METRICS_TOKEN)
 * a bearer token is required, and with `authMode: 'keys'` an admin API key works too; with
 * neither it is open. `authDisabled` (AUTH_DISABLED=true) is the operator saying on purpose
 * that a listener beyond loopback may go without authentication.
 */
export interface MetricsAccess {
  authMode: AuthMode;
  authDisabled: boolean;
  /** METRICS_TOKEN, at least 16 characters. */
  token?: string;
}

/** GATEWAY_ALLOWED_HOSTS, plus the listen address when it is one specific address. */
export function parseAllowedHosts(value: string, listenHost: string): string[] {
  const hosts = value
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  for (const h of hosts) {
    if (h !== '*' && !/^[a-z0-9.:[\]-]+$/.test(h)) {
      throw new ConfigError('GATEWAY_ALLOWED_HOSTS', `has "${h}", which is not a host name or address (no scheme, no port), or *`);
    }
  }
  if (listenHost !== '0.0.0.0' && listenHost !== '::' && !isLoopback(listenHost)) hosts.push(listenHost.toLowerCase());
  return hosts;
}

/** GATEWAY_ALLOWED_QUEUES: queue names or patterns callers may name besides the app's. */
export function parseAllowedQueues(value: string): string[] {
  const patterns = value
    .split(',')
    .map((q) => q.trim())
    .filter((q) => q !== '');
  for (const q of patterns) {
    if (!isValidQueuePattern(q)) throw new ConfigError('GATEWAY_ALLOWED_QUEUES', `has "${q}", which is not ${QUEUE_PATTERN_RULE}`);
  }
  return patterns;
}

/** `localhost`, 127.0.0.0/8 or ::1: addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function readFileVariable(env: Env, variable: string): Buffer | undefined {
  const path = read(env, variable);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(variable, `names a file that cannot be read ("${path}"): ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

export function parseAmqpTls(env: Env): AmqpTlsOptions | undefined {
  const tls: AmqpTlsOptions = {};
  const ca = readFileVariable(env, 'AMQP_CA_FILE');
  const cert = readFileVariable(env, 'AMQP_CERT_FILE');
  const key = readFileVariable(env, 'AMQP_KEY_FILE');
  const passphrase = read(env, 'AMQP_KEY_PASSPHRASE');
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (passphrase !== undefined) tls.passphrase = passphrase;
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(cert ? 'AMQP_KEY_FILE' : 'AMQP_CERT_FILE', 'must be set together with the other (a client certificate needs its key)');
  }
  return Object.keys(tls).length > 0 ? tls : undefined;
}

/**
 * DATABASE_CA_FILE: node-postgres reads TLS settings from the URL (`sslmode`, `sslrootcert`),
 * so the CA file becomes `sslrootcert` there, with `sslmode=verify-full` unless the URL sets
 * a mode: one place decides, and a URL that already names a CA keeps it.
 */
export function withDatabaseCa(url: string, env: Env): string {
  const path = read(env, 'DATABASE_CA_FILE');
  if (path === undefined) return url;
  readFileVariable(env, 'DATABASE_CA_FILE'); // fails at start, naming the variable, if unreadable
  const parsed = new URL(url);
  if (parsed.searchParams.has('sslrootcert')) {
    throw new ConfigError('DATABASE_CA_FILE', 'is set and DATABASE_URL has sslrootcert as well: use one of them');
  }
  parsed.searchParams.set('sslrootcert', path);
  if (!parsed.searchParams.has('sslmode')) parsed.searchParams.set('sslmode', 'verify-full');
  return parsed.toString();
}

/**
 * The worker's HTTP server serves nothing but metrics and probes, so beyond loopback it needs
 * some authentication for /metrics (a token, or admin keys), or AUTH_DISABLED=true.
 */
export function parseWorkerMetricsHost(variable: string, host: string, access: MetricsAccess): string {
  if (isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(host)) {
    throw new ConfigError(variable, `must be an IP address or a host name, got "${host}"`);
  }
  if (!isLoopback(host) && access.token === undefined && access.authMode === 'none' && !access.authDisabled) {
    throw new ConfigError(
      variable,
      `is "${host}", which is not a loopback address: /metrics there requires authentication, which is not configured. Set METRICS_TOKEN (at least 16 characters; Prometheus sends it as a bearer token), or AUTH_MODE=keys (admin API keys), or AUTH_DISABLED=true to serve /metrics without authentication.`,
    );
  }
  return host;
}
