/**
 * The protocol between the bench and the server processes it starts (the limit's server, the
 * BullMQ worker): `ready` once serving, then `done <n>` whenever the completed count changes
 * (every 50 ms at most, read by procs.ts `waitForLine`); SIGTERM closes and exits.
 */
export function serveBench(completed: () => number, close: () => Promise<unknown>): void {
  let reported = -1;
  setInterval(() => {
    const done = completed();
    if (done !== reported) {
      reported = done;
      process.stdout.write(`done ${done}\n`);
    }
  }, 50);
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => {
    // Exiting either way: a failed close leaves nothing the server will not clean up.
    void close().finally(() => process.exit(0));
  });
}
