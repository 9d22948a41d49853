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
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  const service = await startService(config, log, role);
  if (service.url) {
    log.info(
      { url: service.url, board: `${service.url}/admin/queues` },
      'listening',
    );
  }
  onShutdownSignals(() => service.stop(), log);
}

await main();
