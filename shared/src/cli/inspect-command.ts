/**
 * `celerity inspect ping|active|reserved|scheduled|registered|stats|active_queues`, as Celery's
 * `celery inspect`: asks the running workers (Celerity's and Python Celery's alike, over
 * Celery's remote-control protocol) and prints each one's answer.
 */
import { Command } from 'commander';
import { examples, type CliContext } from './context.js';
import { runControl, withControlFlags, type ControlFlags } from './control-session.js';

const INSPECT_METHODS: readonly (readonly [string, string])[] = [
  ['ping', 'ask the workers whether they are alive'],
  ['active', 'the tasks each worker is running'],
  ['reserved', 'the tasks each worker holds, waiting for a free slot'],
  ['scheduled', 'the ETA tasks each worker holds (Celerity keeps them in the broker: always empty)'],
  ['registered', 'the task names each worker runs'],
  ['stats', 'each worker\'s statistics: tasks done per name, concurrency, broker, resource usage'],
  ['active_queues', 'the queues each worker consumes'],
];

export function inspectCommand(ctx: CliContext): Command {
  const inspect = new Command('inspect')
    .description("ask running workers what they are doing, as Celery's `celery inspect` (Python Celery workers answer too)")
    .addHelpText('after', examples(['celerity inspect ping', 'celerity inspect active --destination celerity@host-a:4242', 'celerity inspect stats --json --timeout 5']));
  for (const [method, description] of INSPECT_METHODS) {
    inspect.addCommand(
      withControlFlags(new Command(method).description(description))
        .addHelpText('after', examples([`celerity inspect ${method}`, `celerity inspect ${method} -d celerity@host-a:4242 --timeout 3 --json`]))
        .action((flags: ControlFlags) => runControl(ctx, { method }, flags)),
    );
  }
  return inspect;
}
