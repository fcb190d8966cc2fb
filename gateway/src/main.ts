// The gateway process: `npm run gateway` (after `npm run build`), or `npm start` for gateway + worker.
// Reads its configuration from the environment (see README and ../shared/CONTRACT.md).
import { ConfigError, createLogger, loadGatewayConfig } from '../../shared/src/index.js';
import { Gateway } from './gateway.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadGatewayConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`celerity gateway: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ service: 'gateway', level: config.logLevel });
  if (config.authDisabled) {
    logger.warn('AUTH_DISABLED=true: the gateway accepts requests without an API key from anyone who can reach it', { host: config.host });
  }
  let gateway: Gateway;
  try {
    gateway = await Gateway.create({ config, logger, schema: config.databaseSchema });
  } catch (err) {
    logger.error('gateway could not start', { err });
    process.exit(1);
  }
  const address = await gateway.listen(config.port, config.host);
  logger.info(`gateway listening on http://${address.address}:${address.port}`, { host: address.address, port: address.port });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn(`second ${signal}: exiting now`);
      process.exit(130);
    }
    logger.info(`${signal}: draining (a second signal forces exit)`);
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('gateway shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

main().catch((err: unknown) => {
  process.stderr.write(`celerity gateway: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
