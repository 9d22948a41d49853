import { loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';
import { createLogger } from './logger.ts';
import { startService, type Role } from './service.ts';
import { onShutdownSignals } from './shutdown.ts';

const ROLES: readonly Role[] = ['all', 'worker', 'http'];

async function main(): Promise<void> {
  const role = (process.argv[2] ?? 'all') as Role;
  if (!ROLES.includes(role)) {
    console.error(`Usage: node src/main.ts [${ROLES.join('|')}]`);
    process.exit(2);
  }
  let config;
  try {
    config = loadConfig(process.env, role);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  let service;
  try {
    service = await startService(config, log, role);
  } catch (error) {
    // A taken port or an unresolvable HOST: one clear line, not a stack.
    log.fatal({ err: error }, 'service did not start');
    console.error(`Could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  if (service.url) {
    log.info(
      { url: service.url, board: `${service.url}/admin/queues` },
      'listening',
    );
  }
  // Past the job deadline: the HTTP close grace and the hand-back.
  const hardDeadlineMs = config.shutdownTimeoutMs + 10_000;
  onShutdownSignals(() => service.stop(), log, hardDeadlineMs);
}

await main();
