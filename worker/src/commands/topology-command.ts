/** `celerity topology [--app M] [-Q a,b] [--json]`: what Celerity declares, printed without connecting. */
import { Command } from 'commander';
import { describeTopology } from '../../../shared/src/broker/index.js';
import { Catalogue } from '../../../shared/src/app/index.js';
import { loadWorkerConfig } from '../../../shared/src/config/index.js';
import { renderTopology } from '../topology-command.js';
import { APP_HELP, type CliContext, examples, loadAppModule } from '../../../shared/src/cli/index.js';

async function runTopology(ctx: CliContext, flags: { app?: string; queues?: string; json?: boolean }): Promise<void> {
  const app = await loadAppModule(flags.app, ctx.env);
  const catalogue = new Catalogue(app.tasks);
  // The worker's queues (-Q, WORKER_QUEUES, or the app's) and the ones a gateway declares at connect.
  const config = loadWorkerConfig(ctx.env, { ...(flags.queues !== undefined ? { queues: flags.queues } : {}) }, { queues: catalogue.workerQueues(), cpus: 1 });
  const queues = [...new Set([...config.queues, ...catalogue.defaultQueues()])];
  // QUEUE_TYPES, then the queue types the app's task definitions name, as worker and gateway do.
  const queueTypes = catalogue.queueTypes(config.queueTypes);
  ctx.print(renderTopology(describeTopology({ queues, queueTypes }), { json: flags.json === true }));
}

export function topologyCommand(ctx: CliContext): Command {
  return new Command('topology')
    .description('print the exchanges, queues and bindings Celerity declares for an app and this configuration (connects to nothing)')
    .option('-A, --app <module>', APP_HELP)
    .option('-Q, --queues <names>', "comma-separated task queues, as a worker's -Q (env WORKER_QUEUES; default: the queues the app's tasks name)")
    .option('--json', 'print JSON (for scripts)')
    .addHelpText('after', examples(['celerity topology --app ./tasks.js', 'QUEUE_TYPES=emails=quorum celerity topology --app ./tasks.js --json']))
    .action((flags: { app?: string; queues?: string; json?: boolean }) => runTopology(ctx, flags));
}
