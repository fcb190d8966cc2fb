/**
 * HTTP load generation from the bench process (never the gateway's): node:http over a
 * keep-alive agent. Closed loop = N callers, each sending its next request when the last one
 * answers. Open loop = requests sent on a fixed schedule whatever the answers, latency
 * counted from the scheduled time, so a stall shows up as latency instead of as fewer
 * requests (coordinated omission).
 */
import { Agent, request } from 'node:http';
import { histogram, recordMs, type Histogram } from './stats.js';

export interface HttpResult {
  status: number;
  body: string;
}

export function makeAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

export function httpRequest(
  agent: Agent,
  port: number,
  method: 'GET' | 'POST',
  path: string,
  body?: string,
  timeoutMs?: number,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = request({ host: '127.0.0.1', port, path, method, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    if (timeoutMs !== undefined) {
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`client timeout after ${timeoutMs} ms`)));
    }
    req.on('error', reject);
    req.end(body);
  });
}

export interface LoadResult {
  hist: Histogram;
  ok: number;
  errors: number;
  seconds: number;
  /** Successful requests per second. */
  throughput: number;
}

export interface Target {
  port: number;
  method: 'GET' | 'POST';
  path: string;
  /** A fresh body per request (payloads stay ~200 B). */
  body?: () => string;
  expect: number;
  timeoutMs?: number;
}

/** `callers` in a closed loop for `seconds`, or until `total` requests are done. */
export async function closedLoop(agent: Agent, target: Target, callers: number, limit: { seconds?: number; total?: number; rampMs?: number }): Promise<LoadResult> {
  const hist = histogram();
  let ok = 0;
  let errors = 0;
  let issued = 0;
  const end = limit.seconds !== undefined ? Date.now() + limit.seconds * 1000 : Infinity;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      if (limit.rampMs) await new Promise((resolve) => setTimeout(resolve, (limit.rampMs! * caller) / callers));
      while (Date.now() < end && (limit.total === undefined || issued < limit.total)) {
        issued++;
        const s = process.hrtime.bigint();
        try {
          const r = await httpRequest(agent, target.port, target.method, target.path, target.body?.(), target.timeoutMs);
          if (r.status === target.expect) {
            ok++;
            recordMs(hist, Number(process.hrtime.bigint() - s) / 1e6);
          } else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { hist, ok, errors, seconds, throughput: Math.round(ok / seconds) };
}

/**
 * The open-loop schedule: calls `fire(scheduledAt)` `rate` times a second for `seconds`, on
 * time whatever the target does, and resolves once every fired request has settled, with the
 * elapsed seconds. Latency measured from `scheduledAt` (not from when the request left)
 * shows a stall as latency instead of hiding it as fewer requests (coordinated omission).
 * `fire` returns undefined for a request it did not send.
 */
export async function openLoopSchedule(rate: number, seconds: number, fire: (scheduledAt: number) => Promise<void> | undefined): Promise<number> {
  const total = Math.round(rate * seconds);
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      while (sent < due) {
        const request = fire(t0 + (sent * 1000) / rate);
        sent++;
        if (request) inflight.push(request);
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(inflight);
  return (performance.now() - t0) / 1000;
}

/**
 * Sends at `rate` per second for `seconds`; each latency runs from the request's scheduled
 * time. At most `maxOutstanding` requests are in flight; a request that would exceed it is
 * counted as an error (the target cannot keep up with the rate).
 */
export async function openLoop(agent: Agent, target: Target, rate: number, seconds: number, maxOutstanding = 4096): Promise<LoadResult> {
  const hist = histogram();
  let ok = 0;
  let errors = 0;
  let outstanding = 0;
  const elapsed = await openLoopSchedule(rate, seconds, (scheduled) => {
    if (outstanding >= maxOutstanding) {
      errors++;
      return undefined;
    }
    outstanding++;
    return httpRequest(agent, target.port, target.method, target.path, target.body?.(), target.timeoutMs)
      .then(
        (r) => {
          if (r.status === target.expect) {
            ok++;
            recordMs(hist, performance.now() - scheduled);
          } else errors++;
        },
        () => {
          errors++;
        },
      )
      .finally(() => {
        outstanding--;
      });
  });
  return { hist, ok, errors, seconds: elapsed, throughput: Math.round(ok / elapsed) };
}

/** A ~200-byte demo.add body: the numbers plus padding in kwargs would fail the schema, so pad the queue-free fields only. */
export function addBody(queue: string, result?: 'final' | 'none'): () => string {
  let i = 0;
  const options = result ? { queue, result } : { queue };
  return () => {
    i++;
    return JSON.stringify({ args: [i, 1_000_000 + i], options });
  };
}
