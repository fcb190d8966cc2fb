#!/usr/bin/env node
// Runs the gateway and one worker side by side for `npm start` (plain Node, no dependencies).
//
// Signals: SIGINT/SIGTERM (and SIGHUP, as SIGTERM) are forwarded to both children. The first one
// asks for a graceful stop; a second one is forwarded again, which the children treat as "force";
// a third one SIGKILLs whatever is left.
//
// The children run in their own process group (detached) so that Ctrl-C in the terminal reaches
// them only through this script: otherwise they would get SIGINT from the terminal *and* from us
// and take it as "force" straight away. For the same reason a repeat of a signal within
// DUPLICATE_SIGNAL_MS is ignored: under `npm start` the terminal delivers Ctrl-C to this process
// and npm forwards its own copy a moment later.
//
// If a child exits on its own, the other is sent SIGTERM and this script exits non-zero once both
// are gone.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const host = process.env.GATEWAY_HOST || '127.0.0.1';
const port = process.env.GATEWAY_PORT || '8080';
const urlHost = host.includes(':') ? `[${host}]` : host; // IPv6 literals need brackets
const baseUrl = `http://${urlHost}:${port}`;
// The app both run: the demo app, compiled from examples/demo/tasks.ts (an app module like any user's).
const DEMO_APP = 'dist/examples/demo/tasks.js';
// What `worker` with no flags consumes: WORKER_QUEUES (comma-separated) or the demo app's queue 'demo'.
const QUEUES = (process.env.WORKER_QUEUES || 'demo').split(',').map((q) => q.trim()).filter(Boolean).join(', ');
const HEALTH_POLL_MS = 200;
const HEALTH_DEADLINE_MS = 30_000;
const DUPLICATE_SIGNAL_MS = 500;
const UNEXPECTED_EXIT_FORCE_MS = 30_000; // after a crash, how long the survivor gets to stop

const log = (msg) => console.error(`launch: ${msg}`);

const children = [
  { name: 'gateway', script: 'dist/cli.js', args: ['gateway', '--app', DEMO_APP] },
  { name: 'worker', script: 'dist/cli.js', args: ['worker', '--app', DEMO_APP, '--beat'] },
];

for (const file of [...new Set(children.map((c) => c.script)), DEMO_APP]) {
  if (!existsSync(path.join(root, file))) {
    log(`${file} not found; build first (npm run build) or use npm start`);
    process.exit(1);
  }
}

let stopping = false; // a signal arrived or a child died: no more "unexpected" exits
let crashed = false; // a child exited without being asked to
let exitCode = 0; // first non-zero exit code seen
let signalCount = 0;
let lastSignal = { name: '', at: 0 };
let forceTimer;

const alive = () => children.filter((c) => c.proc && !c.done);

function killAll(signal) {
  for (const c of alive()) {
    try {
      c.proc.kill(signal);
    } catch {
      // already gone
    }
  }
}

function onChildExit(c, code, signal) {
  if (c.done) return;
  c.done = true;
  // Dying from the very signal we forwarded counts as a clean stop.
  const byOurSignal = signal && c.sentSignals.has(signal);
  const status = code ?? 128 + (os.constants.signals[signal] ?? 0); // shell convention
  if (!stopping) {
    crashed = true;
    stopping = true;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const others = alive().map((o) => o.name);
    log(`${c.name} exited unexpectedly with ${how}${others.length ? `; stopping ${others.join(', ')}` : ''}`);
    if (exitCode === 0) exitCode = status === 0 ? 1 : status;
    for (const o of alive()) sendTo(o, 'SIGTERM');
    forceTimer = setTimeout(() => {
      const left = alive();
      if (left.length === 0) return;
      log(`${left.map((o) => o.name).join(', ')} still running after ${UNEXPECTED_EXIT_FORCE_MS / 1000}s; forcing`);
      for (const o of left) sendTo(o, 'SIGTERM');
      setTimeout(() => killAll('SIGKILL'), 10_000).unref();
    }, UNEXPECTED_EXIT_FORCE_MS);
    forceTimer.unref();
  } else if (!byOurSignal && status !== 0 && exitCode === 0) {
    exitCode = status;
    log(`${c.name} exited with ${signal ? `signal ${signal}` : `code ${code}`}`);
  }
  if (alive().length === 0) {
    clearTimeout(forceTimer);
    process.exit(crashed && exitCode === 0 ? 1 : exitCode);
  }
}

function sendTo(c, signal) {
  c.sentSignals.add(signal);
  try {
    c.proc.kill(signal);
  } catch {
    // already gone
  }
}

for (const c of children) {
  c.sentSignals = new Set();
  c.proc = spawn(process.execPath, [c.script, ...c.args], {
    cwd: root,
    env: process.env,
    stdio: 'inherit',
    detached: true, // own process group: see the header comment
  });
  c.proc.on('error', (err) => {
    log(`could not start ${c.name}: ${err.message}`);
    onChildExit(c, 1, null);
  });
  c.proc.on('exit', (code, signal) => onChildExit(c, code, signal));
}

// Whatever happens to this process, don't leave the (detached) children behind.
process.on('exit', () => {
  for (const c of alive()) {
    try {
      c.proc.kill('SIGTERM');
    } catch {
      // ignore
    }
  }
});

function onSignal(received) {
  const signal = received === 'SIGHUP' ? 'SIGTERM' : received;
  const now = Date.now();
  if (signal === lastSignal.name && now - lastSignal.at < DUPLICATE_SIGNAL_MS) return;
  lastSignal = { name: signal, at: now };
  signalCount += 1;
  stopping = true;
  const names = alive().map((c) => c.name).join(' and ');
  if (!names) return;
  if (signalCount === 1) {
    log(`${received}: stopping ${names} gracefully (send again to force)`);
  } else if (signalCount === 2) {
    log(`${received} again: forcing ${names} to stop`);
  } else {
    log(`${received} a third time: killing ${names}`);
    killAll('SIGKILL');
    return;
  }
  for (const c of alive()) sendTo(c, signal);
}
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => onSignal(s));

// Tell the user once the gateway answers.
async function announceWhenHealthy() {
  if (port === '0') return; // "any free port": nothing to poll or to print
  const deadline = Date.now() + HEALTH_DEADLINE_MS;
  while (Date.now() < deadline && !stopping) {
    try {
      const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer().catch(() => {});
      if (res.ok) {
        console.log(
          `Celerity is running: gateway on ${baseUrl}, one worker on queue(s) ${QUEUES}. Ctrl-C stops both.\n` +
            `Try: curl -s -X POST '${baseUrl}/api/v1/tasks/demo.add?wait=5' -H 'content-type: application/json' -d '{"args":[2,3]}'` +
            // With API keys on, the hint needs one (npm run keys -- create ...).
            (process.env.AUTH_MODE === 'keys' ? ` -H "authorization: Bearer $CELERITY_API_KEY"` : ''),
        );
        return;
      }
    } catch {
      // not listening yet
    }
    await sleep(HEALTH_POLL_MS);
  }
  if (!stopping) {
    log(`gateway did not answer ${baseUrl}/healthz within ${HEALTH_DEADLINE_MS / 1000}s; still waiting on both processes (see their logs above)`);
  }
}
announceWhenHealthy();
