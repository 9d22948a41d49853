import type { Logger } from './logger.ts';

export type ThrottledLog = (
  level: 'warn' | 'error',
  kind: string,
  context: object,
  message: string,
) => void;

/**
 * While Redis is down every connection and worker reports each reconnect
 * attempt; logging them all buries everything else. This logs the first
 * entry of a kind, then at most one per interval, with how many it skipped.
 */
export function throttledLog(log: Logger, intervalMs = 30_000): ThrottledLog {
  const last = new Map<string, { at: number; skipped: number }>();
  return (level, kind, context, message) => {
    const now = Date.now();
    const seen = last.get(kind);
    if (seen && now - seen.at < intervalMs) {
      seen.skipped++;
      return;
    }
    log[level]({ ...context, skipped: seen?.skipped ?? 0 }, message);
    last.set(kind, { at: now, skipped: 0 });
  };
}

/** Queue 'error' events (Redis outages, mostly), through the throttle. */
export function logQueueErrors(log: ThrottledLog) {
  return (error: Error, queueName: string) =>
    log(
      'warn',
      `queue:${queueName}`,
      { err: error, queue: queueName },
      'queue error',
    );
}
