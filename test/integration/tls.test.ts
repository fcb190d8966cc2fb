/**
 * amqps:// and PostgreSQL TLS through configuration only (AMQP_CA_FILE, DATABASE_CA_FILE). The
 * local servers speak plain TCP, so each test puts a TLS-terminating proxy with a throw-away
 * certificate (made by openssl) in front of the real server: the client side is the real code
 * path, certificate verification included.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Broker } from '../../shared/src/broker/connection.js';
import { createPool } from '../../shared/src/store/pool.js';
import { createSilentLogger } from '../../shared/src/core/logger.js';
import { loadCommonConfig } from '../../shared/src/config/load.js';
import { TEST_AMQP_URL, TEST_DATABASE_URL, TestContext, http, type Task } from '../helpers/harness.js';

interface Proxy {
  port: number;
  /** TLS sessions completed so far. */
  handshakes: () => number;
  close: () => Promise<void>;
}

function makeCertificate(dir: string): { certFile: string; key: Buffer; cert: Buffer } {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'pipe' });
  } catch (err) {
    throw new Error('openssl is needed for the TLS tests: apt-get install openssl', { cause: err });
  }
  return { certFile, key: readFileSync(keyFile), cert: readFileSync(certFile) };
}

function pipeBoth(a: net.Socket, b: net.Socket): void {
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.pipe(b).pipe(a);
}

/** TLS from the client, plain TCP to the real server. */
async function listen(server: net.Server, counter: { n: number }): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    handshakes: () => counter.n,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function amqpTlsProxy(key: Buffer, cert: Buffer, upstream: URL): Promise<Proxy> {
  const counter = { n: 0 };
  const server = tls.createServer({ key, cert }, (client) => {
    counter.n++;
    pipeBoth(client, net.connect(Number(upstream.port || 5672), upstream.hostname));
  });
  server.on('tlsClientError', () => undefined);
  return listen(server, counter);
}

/**
 * PostgreSQL asks for TLS in-band: the client sends an SSLRequest (8 bytes), the server answers
 * 'S' and the TLS handshake starts on the same socket. The startup message then travels inside
 * TLS, and the proxy hands it on in plain text.
 */
async function postgresTlsProxy(key: Buffer, cert: Buffer, upstream: URL): Promise<Proxy> {
  const counter = { n: 0 };
  const server = net.createServer((client) => {
    client.once('data', (first: Buffer) => {
      if (first.length !== 8 || first.readUInt32BE(4) !== 80877103) return client.destroy(); // not an SSLRequest
      client.write('S');
      const secure = new tls.TLSSocket(client, { isServer: true, key, cert });
      secure.on('secure', () => counter.n++);
      secure.on('error', () => client.destroy());
      pipeBoth(secure, net.connect(Number(upstream.port || 5432), upstream.hostname));
    });
    client.on('error', () => undefined);
  });
  return listen(server, counter);
}

describe('TLS to the broker and the database, by configuration', () => {
  let dir: string;
  let material: ReturnType<typeof makeCertificate>;
  let amqp: Proxy;
  let postgres: Proxy;
  let amqpsUrl: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'celerity-tls-'));
    material = makeCertificate(dir);
    amqp = await amqpTlsProxy(material.key, material.cert, new URL(TEST_AMQP_URL));
    postgres = await postgresTlsProxy(material.key, material.cert, new URL(TEST_DATABASE_URL));
    const plain = new URL(TEST_AMQP_URL);
    amqpsUrl = `amqps://${plain.username}:${plain.password}@127.0.0.1:${amqp.port}${plain.pathname}`;
  });
  after(async () => {
    await amqp.close();
    await postgres.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('amqps:// with AMQP_CA_FILE connects through TLS, verifying the server certificate', async () => {
    const config = loadCommonConfig({ AMQP_URL: amqpsUrl, AMQP_CA_FILE: material.certFile });
    const before = amqp.handshakes();
    const broker = await Broker.create({ urls: config.amqpUrls, logger: createSilentLogger(), connectionName: 'celerity-tls-test', ...(config.amqpTls ? { tls: config.amqpTls } : {}) });
    try {
      assert.equal(broker.connected, true);
      assert.ok(amqp.handshakes() > before, 'the connection went through the TLS proxy');
    } finally {
      await broker.close();
    }
  });

  it('amqps:// without the CA refuses the untrusted certificate', async () => {
    const config = loadCommonConfig({ AMQP_URL: amqpsUrl });
    await assert.rejects(
      Broker.create({ urls: config.amqpUrls, logger: createSilentLogger(), connectionName: 'celerity-tls-test', initialConnectTimeoutMs: 500 }),
      /self[- ]signed certificate/i,
    );
  });

  it('a gateway on amqps:// submits and gets replies (?wait=) from a worker', async () => {
    const ctx = await TestContext.create();
    try {
      const queue = ctx.queue('tls');
      const config = loadCommonConfig({ AMQP_URL: amqpsUrl, AMQP_CA_FILE: material.certFile });
      const gw = await ctx.startGateway({ config: { amqpUrls: config.amqpUrls, ...(config.amqpTls ? { amqpTls: config.amqpTls } : {}) } });
      await ctx.startWorker({ queues: [queue] });
      const res = await http<Task>(`${gw.url}/api/v1/tasks/demo.add?wait=10`, { json: { args: [40, 2], options: { queue } } });
      assert.equal(res.status, 200);
      assert.equal(res.body.result, 42);
    } finally {
      await ctx.cleanup();
    }
  });

  it('DATABASE_CA_FILE makes the pool use TLS with verification (sslmode=verify-full)', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.host = `127.0.0.1:${postgres.port}`;
    const config = loadCommonConfig({ DATABASE_URL: url.toString(), DATABASE_CA_FILE: material.certFile });
    const pool = createPool({ url: config.databaseUrl, logger: createSilentLogger(), applicationName: 'celerity-tls-test', max: 1 });
    try {
      const before = postgres.handshakes();
      const { rows } = await pool.query<{ ssl: boolean }>('SELECT 1 AS one');
      assert.equal(rows.length, 1);
      assert.ok(postgres.handshakes() > before, 'the connection went through TLS');
    } finally {
      await pool.end();
    }
  });

  it('sslmode=verify-full without the CA refuses the untrusted certificate', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.host = `127.0.0.1:${postgres.port}`;
    url.searchParams.set('sslmode', 'verify-full');
    const pool = createPool({ url: url.toString(), logger: createSilentLogger(), applicationName: 'celerity-tls-test', max: 1 });
    try {
      await assert.rejects(pool.query('SELECT 1'), /self[- ]signed certificate/i);
    } finally {
      await pool.end();
    }
  });
});
