import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { ErrorCode, ServiceError } from '../errors.ts';
import type { RateLimit } from './rate-limit.ts';

/** What a Fivetran call spends: every call spends `request`, creations also `create`. */
export type BudgetKind = 'request' | 'create';

// Reserves the next free slot for a call in every bucket it spends, atomically
// across all worker processes. A bucket is a sorted set of reserved send
// times. Two rules decide the slot:
//  - spacing: at least intervalMs after the bucket's latest slot, so calls are
//    spread over the window instead of bursting into Fivetran's limit;
//  - rolling window: at most `max` slots in any windowMs.
// Plus a shared pause, set when Fivetran answers 429 with Retry-After.
// Time comes from the Redis server so that every process agrees on it.
// When the slot is further away than maxReserveMs nothing is reserved and
// the caller is told how long to stay away instead.
const RESERVE_SCRIPT = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local at = now
local pausedUntil = tonumber(redis.call('GET', KEYS[1]) or '0')
if pausedUntil > at then at = pausedUntil end
local buckets = #KEYS - 1
for i = 1, buckets do
  local key = KEYS[i + 1]
  local max = tonumber(ARGV[3 * i])
  local window = tonumber(ARGV[3 * i + 1])
  local interval = tonumber(ARGV[3 * i + 2])
  local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if latest[2] and tonumber(latest[2]) + interval > at then
    at = tonumber(latest[2]) + interval
  end
  local oldestCounted = redis.call('ZRANGE', key, -max, -max, 'WITHSCORES')
  if oldestCounted[2] and tonumber(oldestCounted[2]) + window > at then
    at = tonumber(oldestCounted[2]) + window
  end
end
local waitMs = at - now
if waitMs > tonumber(ARGV[1]) then return {0, waitMs} end
for i = 1, buckets do
  local key = KEYS[i + 1]
  local window = tonumber(ARGV[3 * i + 1])
  redis.call('ZADD', key, at, ARGV[2] .. ':' .. at)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (at - window))
  redis.call('PEXPIRE', key, waitMs + window + 1000)
end
return {1, waitMs}
`;

// Extends the pause, never shortens it: a late 429 with a small Retry-After
// must not cut short a longer pause another worker already set.
const PAUSE_SCRIPT = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local untilMs = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilMs > current then
  redis.call('SET', KEYS[1], untilMs, 'PX', tonumber(ARGV[1]) + 1000)
end
return math.max(untilMs, current) - now
`;

const PAUSE_LEFT_SCRIPT = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
return math.max(0, current - now)
`;

export interface RequestBudgetOptions {
  redis: Redis;
  /** Key prefix; keep the hash tag of the queue prefix for Redis Cluster. */
  prefix: string;
  limits: Record<BudgetKind, RateLimit>;
  /** Waits up to this long in-process; longer waits are handed to the job. */
  maxInlineWaitMs: number;
}

export interface RequestBudget {
  /** Resolves when a call of this kind may be sent now. */
  acquire(kind: BudgetKind, signal?: AbortSignal): Promise<void>;
  /** Pauses every caller, in every process, for this long. */
  pause(durationMs: number): Promise<void>;
}

export function createRequestBudget(
  options: RequestBudgetOptions,
): RequestBudget {
  const { redis, prefix, limits, maxInlineWaitMs } = options;
  const pauseKey = `${prefix}:fivetran-budget:paused-until`;
  const bucketKey = (kind: BudgetKind) => `${prefix}:fivetran-budget:${kind}`;

  async function reserve(kinds: BudgetKind[]): Promise<number> {
    const args: (string | number)[] = [maxInlineWaitMs, randomUUID()];
    for (const kind of kinds) {
      const { windowMs, intervalMs, max } = spreadOf(limits[kind]);
      args.push(max, windowMs, intervalMs);
    }
    const [reserved, waitMs] = (await redis.eval(
      RESERVE_SCRIPT,
      kinds.length + 1,
      pauseKey,
      ...kinds.map(bucketKey),
      ...args,
    )) as [number, number];
    if (reserved === 1) return waitMs;
    throw new ServiceError(
      ErrorCode.BudgetExhausted,
      'Fivetran request budget has no free slot soon',
      { waitMs },
    );
  }

  return {
    async acquire(kind, signal) {
      const kinds: BudgetKind[] =
        kind === 'create' ? ['request', 'create'] : ['request'];
      for (;;) {
        const waitMs = await reserve(kinds);
        if (waitMs > 0) await sleep(waitMs, undefined, { signal });
        // A 429 seen by another worker while we slept voids our slot: going
        // ahead would only pile another 429 onto the account.
        const pausedForMs = Number(
          await redis.eval(PAUSE_LEFT_SCRIPT, 1, pauseKey),
        );
        if (pausedForMs === 0) return;
      }
    },
    async pause(durationMs) {
      await redis.eval(PAUSE_SCRIPT, 1, pauseKey, Math.ceil(durationMs));
    },
  };
}

// Fivetran counts a request when it arrives, we count it when we reserve it;
// the two differ by network and scheduling delay, which on a busy machine
// reaches tens of milliseconds. A margin on the window absorbs that, so a
// budget equal to Fivetran's never draws a 429: 1% of the window, at least
// 250 ms (short windows, as in tests) and at most a second.
function spreadOf(limit: RateLimit) {
  const marginMs = Math.min(1000, Math.max(250, limit.windowMs / 100));
  const windowMs = limit.windowMs + marginMs;
  return {
    max: limit.max,
    windowMs,
    intervalMs: Math.floor(windowMs / limit.max),
  };
}
