import type { FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import { ConfigError } from './errors.ts';
import type { Logger } from './logger.ts';
import { createOnboardingStore } from './onboarding/store.ts';
import { buildHttpServer } from './producers/http-server.ts';
import {
  closeQueues,
  createMaintenanceQueue,
  createStepQueues,
} from './queues/index.ts';
import {
  createIntakeConnection,
  closeConnection,
  createWorkerConnection,
  logConnectionErrors,
  waitUntilReady,
} from './redis.ts';
import { startWorkers, type WorkerHandle } from './worker.ts';
import { logQueueErrors, throttledLog } from './log-throttle.ts';
import { warnIfRedisCanEvict } from './redis-checks.ts';

export const USER_AGENT = 'connect-card-worker/0.1.0';

export type Role = 'all' | 'worker' | 'http';

export interface RunningService {
  /** Where the HTTP server listens, when this role runs one. */
  url: string | undefined;
  workers: WorkerHandle | undefined;
  stop(): Promise<void>;
}

/** Starts the parts of the service that `role` asks for. */
export async function startService(
  config: Config,
  log: Logger,
  role: Role = 'all',
): Promise<RunningService> {
  await warnIfRedisCanEvict(config.redisUrl, log);

  // The HTTP server first: if its port is taken the process stops before
  // any worker has taken a job it would then leave locked.
  const http = role === 'worker' ? undefined : await startHttp(config, log);
  const workers =
    role === 'http' ? undefined : startWorkers(config, log, USER_AGENT);
  return {
    url: http?.url,
    workers,
    async stop() {
      // The intake first, so no signup is accepted that no worker will see
      // before this process goes; then the workers finish or hand back.
      await http?.stop();
      await workers?.close(config.shutdownTimeoutMs);
    },
  };
}

async function startHttp(config: Config, log: Logger) {
  const { intakeToken, board } = config;
  if (!intakeToken || !board) {
    throw new ConfigError([
      'INTAKE_TOKEN, BOARD_USER and BOARD_PASSWORD are required to serve HTTP',
    ]);
  }
  const noisy = throttledLog(log);
  const onQueueError = logQueueErrors(noisy);
  const intakeRedis = logConnectionErrors(
    createIntakeConnection(config.redisUrl),
    noisy,
    'intake',
  );
  // Bull Board reads may wait for Redis; the intake must not.
  const boardRedis = logConnectionErrors(
    createWorkerConnection(config.redisUrl),
    noisy,
    'board',
  );
  // Without an offline queue, commands sent before the first connect fail;
  // wait for it, but serve anyway (with 503s) if Redis is down at start.
  await waitUntilReady(intakeRedis, 5000).catch((error: unknown) =>
    log.warn({ err: error }, 'intake starting without redis'),
  );
  const queues = createStepQueues(
    intakeRedis,
    config.queuePrefix,
    onQueueError,
  );
  const boardQueues = createStepQueues(
    boardRedis,
    config.queuePrefix,
    onQueueError,
  );
  const maintenanceQueue = createMaintenanceQueue(
    boardRedis,
    config.queuePrefix,
    onQueueError,
  );
  const app: FastifyInstance = await buildHttpServer({
    intake: {
      store: createOnboardingStore(intakeRedis, config.queuePrefix),
      queues,
      queueSettings: config.steps,
    },
    redisReady: () => intakeRedis.status === 'ready',
    boardQueues: [...Object.values(boardQueues), maintenanceQueue],
    intakeToken,
    board,
    log,
  });
  const url = await app.listen({
    port: config.http.port,
    host: config.http.host,
  });
  return {
    url,
    async stop() {
      await closeHttp(app);
      await closeQueues(queues);
      await closeQueues(boardQueues);
      await maintenanceQueue.close();
      intakeRedis.disconnect();
      await closeConnection(boardRedis);
    },
  };
}

// Fastify's close waits for connections that were busy when it began, and
// those keep-alive for 72 s after their last response: without a bound, an
// open Bull Board tab could hold a shutdown past any orchestrator's grace.
const HTTP_CLOSE_GRACE_MS = 3000;

async function closeHttp(app: FastifyInstance): Promise<void> {
  const closing = app.close();
  const timer = setTimeout(
    () => app.server.closeAllConnections(),
    HTTP_CLOSE_GRACE_MS,
  );
  try {
    await closing;
  } finally {
    clearTimeout(timer);
  }
}
