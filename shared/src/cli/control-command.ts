/**
 * `celerity control add_consumer|cancel_consumer|pool_grow|pool_shrink|rate_limit|shutdown`, as
 * Celery's `celery control`: tells running workers to change what they do, over Celery's
 * remote-control protocol. `controlCommand` makes the group; other commands join it through
 * the `Command` it returns (cli.ts).
 */
import { Command } from 'commander';
import { isValidQueueName, QUEUE_NAME_RULE } from '../core/index.js';
import { CliError, EXIT } from './exit-codes.js';
import { examples, type CliContext } from './context.js';
import { runControl, withControlFlags, type ControlFlags } from './control-session.js';

function queueName(queue: string): string {
  if (!isValidQueueName(queue)) throw new CliError(EXIT.CONFIG, `invalid queue name "${queue}" (${QUEUE_NAME_RULE})`);
  return queue;
}

function slots(value: string | undefined): number {
  const n = value === undefined ? 1 : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliError(EXIT.CONFIG, `the number of slots must be a whole number ≥ 1, not "${value}"`);
  return n;
}

function sub(name: string, description: string, lines: string[]): Command {
  return withControlFlags(new Command(name).description(description)).addHelpText('after', examples(lines));
}

export function controlCommand(ctx: CliContext): Command {
  const control = new Command('control')
    .description("tell running workers to change what they do, as Celery's `celery control` (Python Celery workers obey too)")
    .addHelpText('after', examples(['celerity control add_consumer reports -d celerity@host-a:4242', 'celerity control pool_grow 4', 'celerity control shutdown -d celerity@host-a:4242']));
  control.addCommand(
    sub('add_consumer', 'start consuming a queue now, without a restart', ['celerity control add_consumer reports', 'celerity control add_consumer reports -d celerity@host-a:4242'])
      .argument('<queue>', 'the queue to consume (declared as a task queue if it does not exist)')
      .action((queue: string, flags: ControlFlags) => runControl(ctx, { method: 'add_consumer', arguments: { queue: queueName(queue) } }, flags)),
  );
  control.addCommand(
    sub('cancel_consumer', 'stop consuming a queue (tasks already taken finish)', ['celerity control cancel_consumer reports', 'celerity control cancel_consumer reports -d celerity@host-a:4242'])
      .argument('<queue>', 'the queue to stop consuming')
      .action((queue: string, flags: ControlFlags) => runControl(ctx, { method: 'cancel_consumer', arguments: { queue: queueName(queue) } }, flags)),
  );
  for (const [method, verb] of [['pool_grow', 'more'], ['pool_shrink', 'fewer']] as const) {
    control.addCommand(
      sub(method, `run ${verb} tasks at once (never fewer than 1)`, [`celerity control ${method}`, `celerity control ${method} 4 -d celerity@host-a:4242`])
        .argument('[n]', 'by how many slots (default 1)')
        .action((n: string | undefined, flags: ControlFlags) => runControl(ctx, { method, arguments: { n: slots(n) } }, flags)),
    );
  }
  control.addCommand(
    sub('rate_limit', "set a task's rate limit on the workers (0 lifts it)", ['celerity control rate_limit emails.send 10/s', 'celerity control rate_limit emails.send 0'])
      .argument('<task>', 'the task name')
      .argument('<rate>', 'tasks per second, minute or hour: 10/s, 100/m, 1000/h; 0 for none')
      .action((task: string, rate: string, flags: ControlFlags) => runControl(ctx, { method: 'rate_limit', arguments: { task_name: task, rate_limit: rate } }, flags)),
  );
  control.addCommand(
    sub('shutdown', 'stop workers gracefully, as SIGTERM does (tasks running get their grace period)', ['celerity control shutdown -d celerity@host-a:4242', 'celerity control shutdown -d celerity@host-a:4242,celerity@host-b:4243 --timeout 5'])
      .action((flags: ControlFlags) => runControl(ctx, { method: 'shutdown' }, flags)),
  );
  return control;
}
