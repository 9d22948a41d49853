import type { Worker } from 'bullmq';
import type { Logger } from './logger.ts';

/**
 * Closes workers gracefully: no new jobs, active ones may finish. Past the
 * deadline the running jobs are cancelled; their processors hand them back
 * to the queue (see step-processor) and the workers close at once.
 */
export async function closeWithin(
  workers: Worker[],
  deadlineMs: number,
  log: Logger,
): Promise<void> {
  const graceful = Promise.all(workers.map((worker) => worker.close()));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), deadlineMs);
  });
  const outcome = await Promise.race([graceful.then(() => 'closed'), deadline]);
  clearTimeout(timer);
  if (outcome === 'closed') return;
  log.warn({ deadlineMs }, 'shutdown deadline passed, handing jobs back');
  for (const worker of workers) worker.cancelAllJobs('shutdown');
  // Cancelled processors move their jobs back to wait within moments; give
  // them that, then stop waiting.
  const handedBack = await Promise.race([
    graceful.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000)),
  ]);
  if (!handedBack) {
    await Promise.all(workers.map((worker) => worker.close(true)));
  }
}

/**
 * First SIGTERM/SIGINT: graceful stop, then exit 0. A second one: exit now.
 * A stop that cannot finish (Redis unreachable, so nothing can be handed
 * back) ends with exit 1 once hardDeadlineMs has passed: the jobs it held
 * come back to the queue when their locks expire.
 */
export function onShutdownSignals(
  stop: () => Promise<void>,
  log: Logger,
  hardDeadlineMs: number,
): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error({ hardDeadlineMs }, 'shutdown did not finish, exiting');
      process.exit(1);
    }, hardDeadlineMs).unref();
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}
