import { afterEach, describe, expect, it } from 'vitest';
import {
  startRedisProcess,
  type RedisProcess,
} from '../../src/sandbox/redis-process.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import type { ReceivedMail } from '../../src/sandbox/smtp-inbox.ts';
import { schemaNameFor } from '../../src/onboarding/ids.ts';
import {
  signup,
  startTestService,
  testEnv,
  type TestService,
} from '../support/service.ts';
import { waitFor } from '../support/wait-for.ts';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.ts';
import { seededRandom } from '../support/seeded-random.ts';
import { readJob } from '../support/queues.ts';
import { buildStepDeps } from '../../src/worker.ts';
import { sweepOrphanPackages } from '../../src/jobs/sweep-orphan-packages.ts';
import { createLogger } from '../../src/logger.ts';
import { STEP_ORDER } from '../../src/queues/index.ts';

const SEEDS = (process.env.CHAOS_SEEDS ?? '11,23,37')
  .split(',')
  .map((seed) => Number(seed.trim()));
const SIGNUPS = Number(process.env.CHAOS_SIGNUPS ?? 12);
const KILLS = Number(process.env.CHAOS_KILLS ?? 6);
const WORKER_COUNT = 2;

interface ChaosFigures {
  seed: number;
  signups: number;
  posts: number;
  refusedPosts: number;
  kills: number;
  redisRestarts: number;
  stalledJobsRecovered: number;
  orphanPackagesSwept: number;
  /** Emails sent twice because a kill fell in SMTP's confirmation window. */
  resentInSmtpWindow: number;
  duplicates: number;
}

describe('chaos: kills, Redis restart and repeated events', () => {
  let redis: RedisProcess | undefined;
  let sandbox: Sandbox | undefined;
  let intake: TestService | undefined;
  const workers: WorkerProcess[] = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.kill()));
    await intake?.stop();
    await sandbox?.close();
    await redis?.remove();
  });

  for (const seed of SEEDS) {
    it(`leaves every user one package, one connection and one email (seed ${seed})`, async () => {
      const random = seededRandom(seed);
      redis = await startRedisProcess({ appendOnly: true });
      // Slow enough that onboardings are mid-flight when the kills land.
      sandbox = await startSandbox({ latencyMs: 120 });
      const env = testEnv(sandbox.env, {
        REDIS_URL: redis.url,
        FIVETRAN_RATE_LIMIT: '100000/1m',
        FIVETRAN_CREATE_RATE_LIMIT: '100000/1m',
        // A killed worker's jobs come back within about a second.
        LOCK_DURATION_MS: '1500',
        STALLED_INTERVAL_MS: '500',
        STEP_ATTEMPTS: '20',
        STEP_BACKOFF_MS: '100',
        WORKER_CONCURRENCY: '3',
        ORPHAN_SWEEP_INTERVAL_MS: '0',
        // The local inbox answers in milliseconds; a killed sender's claim
        // need not hold the retry up for the production two minutes.
        EMAIL_CLAIM_MS: '2000',
      });
      intake = await startTestService(env, 'http');
      for (let n = 0; n < WORKER_COUNT; n++) {
        workers.push(await spawnWorker(env));
      }
      const figures: ChaosFigures = {
        seed,
        signups: SIGNUPS,
        posts: 0,
        refusedPosts: 0,
        kills: 0,
        redisRestarts: 0,
        stalledJobsRecovered: 0,
        orphanPackagesSwept: 0,
        resentInSmtpWindow: 0,
        duplicates: 0,
      };
      const report = () => `chaos figures: ${JSON.stringify(figures)}`;

      // Each event is sent 3 times, at random moments over the chaos.
      const events = Array.from({ length: SIGNUPS }, (_, n) => signup(n));
      const posts = events.flatMap((event) => [event, event, event]);
      const sending = (async () => {
        for (const event of shuffle(posts, random)) {
          await postUntilStored(intake!, event, figures);
          await sleep(random() * 250);
        }
      })();
      const killTimes: number[] = [];
      const chaos = (async () => {
        for (let kill = 0; kill < KILLS; kill++) {
          await sleep(150 + random() * 500);
          if (kill === Math.floor(KILLS / 2)) {
            await redis!.restart();
            figures.redisRestarts++;
          }
          const victim = Math.floor(random() * workers.length);
          killTimes.push(Date.now());
          await workers[victim]!.kill('SIGKILL');
          figures.kills++;
          workers[victim] = await spawnWorker(env);
        }
      })();
      await Promise.all([sending, chaos]);

      const onboardingIds = new Set<string>();
      for (const event of events) {
        const response = await intake.postSignup(event);
        onboardingIds.add(
          ((await response.json()) as { onboarding_id: string }).onboarding_id,
        );
      }
      expect(onboardingIds.size, report()).toBe(SIGNUPS);
      for (const id of onboardingIds) {
        await waitFor(
          () => intake!.store.get(id),
          (record) => record?.state === 'email_sent',
          60_000,
          100,
        ).catch((error: Error) => {
          throw new Error(
            `${report()}\nstuck onboarding ${id}: ${error.message}`,
          );
        });
      }

      figures.stalledJobsRecovered = await countStalled(intake, onboardingIds);
      // Uploads whose answer a kill swallowed left unbound packages; the
      // sweep (scheduled in production) clears them.
      const deps = buildStepDeps(intake.config, intake.redis, 'chaos-test');
      const swept = await sweepOrphanPackages(deps, {
        minAgeMs: 0,
        log: createLogger('silent'),
      });
      await deps.fivetran.close();
      deps.mailer.close();
      figures.orphanPackagesSwept = swept.deleted.length;

      // The sandbox's own records are the judge.
      const connections = [...sandbox.fivetran.connections.values()];
      const packages = [...sandbox.fivetran.packages.values()];
      expect(packages, report()).toHaveLength(SIGNUPS);
      const usedKills = new Set<number>();
      for (const event of events) {
        const schema = schemaNameFor('ccw', event.user.id);
        const own = connections.filter((c) => c.schema === schema);
        const bound = packages.filter((p) =>
          own.some((c) => c.id === p.connection_id),
        );
        const mails = sandbox.smtp.messages.filter((m) =>
          m.envelopeTo.includes(event.user.email),
        );
        const resent = resentInSmtpWindow(mails, killTimes, usedKills);
        figures.resentInSmtpWindow += resent;
        figures.duplicates +=
          Math.max(0, own.length - 1) +
          Math.max(0, bound.length - 1) +
          Math.max(0, mails.length - 1 - resent);
        expect(own, `${report()} connections of ${event.user.id}`).toHaveLength(
          1,
        );
        expect(bound, `${report()} packages of ${event.user.id}`).toHaveLength(
          1,
        );
        expect(
          mails,
          `${report()} mails to ${event.user.email}; ${describeTiming(mails, killTimes)}`,
        ).toHaveLength(1 + resent);
        expect(mails[0]?.text).toContain(`auth=${own[0]?.connect_card_token}`);
      }
      expect(connections, report()).toHaveLength(SIGNUPS);
      expect(
        packages.filter((p) => !p.connection_id),
        report(),
      ).toEqual([]);
      expect(sandbox.smtp.messages, report()).toHaveLength(
        SIGNUPS + figures.resentInSmtpWindow,
      );
      expect(figures.duplicates, report()).toBe(0);
      console.info(report());
    }, 180_000);
  }
});

async function postUntilStored(
  intake: TestService,
  event: unknown,
  figures: ChaosFigures,
): Promise<void> {
  // What a well-behaved product does: a 503 means "not stored, send again".
  for (;;) {
    figures.posts++;
    const response = await intake.postSignup(event).catch(() => undefined);
    if (response?.status === 202) return;
    figures.refusedPosts++;
    await sleep(100);
  }
}

// The one duplicate SMTP cannot rule out: the server took the message, and
// the sending worker was killed before the 250 was recorded, so the retry
// sends it again (README, "the window that remains"). A kill explains a
// second copy only if it fell between the last bytes leaving the worker and
// the record being written: a few ms around the first copy's arrival.
const SMTP_WINDOW_BEFORE_MS = 100;
const SMTP_WINDOW_AFTER_MS = 50;

/** Extra copies of one user's mail explained by a kill in the window. */
function resentInSmtpWindow(
  mails: ReceivedMail[],
  killTimes: number[],
  usedKills: Set<number>,
): number {
  let explained = 0;
  for (const mail of mails.slice(0, -1)) {
    const kill = killTimes.find(
      (at) =>
        !usedKills.has(at) &&
        at >= mail.receivedAt - SMTP_WINDOW_BEFORE_MS &&
        at <= mail.receivedAt + SMTP_WINDOW_AFTER_MS,
    );
    if (kill === undefined) continue;
    usedKills.add(kill);
    explained++;
  }
  return explained;
}

/** Where each mail arrived relative to the nearest kill, for diagnosis. */
function describeTiming(mails: ReceivedMail[], killTimes: number[]): string {
  return mails
    .map((mail) => {
      const nearest = killTimes.reduce(
        (best, at) =>
          Math.abs(at - mail.receivedAt) < Math.abs(best)
            ? at - mail.receivedAt
            : best,
        Number.POSITIVE_INFINITY,
      );
      return `received at ${mail.receivedAt}, nearest kill ${nearest} ms later`;
    })
    .join('; ');
}

async function countStalled(
  intake: TestService,
  onboardingIds: Set<string>,
): Promise<number> {
  let stalled = 0;
  for (const step of STEP_ORDER) {
    for (const id of onboardingIds) {
      const job = await readJob(intake, step, id);
      stalled += job?.stalledCounter ?? 0;
    }
  }
  return stalled;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
