import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Agent, fetch } from 'undici';
import { loadConfig, type Config } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { BOARD_PATH } from '../src/producers/board.ts';
import {
  redisServerAvailable,
  startRedisProcess,
  type RedisProcess,
} from '../src/sandbox/redis-process.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import type { ReceivedMail } from '../src/sandbox/smtp-inbox.ts';
import { startService, type RunningService } from '../src/service.ts';

const DEFAULT_COUNT = 3;
const MAX_COUNT = 500;
const ONBOARDING_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 100;
// Bounds the number of sockets open to the intake at once; 500 parallel
// requests would only queue up inside the HTTP server anyway.
const REQUEST_CONCURRENCY = 25;
// A cleanup that hangs (say Redis was killed by the same Ctrl-C) must not
// keep the terminal hostage.
const CLEANUP_TIMEOUT_MS = 10_000;
const REPO_ROOT = resolve(import.meta.dirname, '..');
const DEFAULT_MAIL_DIR = join(REPO_ROOT, '.tmp', 'demo-mail');
const TERMINAL_STATES = new Set(['email_sent', 'failed']);

// The demo's own HTTP client, so its sockets can be dropped before the
// service stops: Fastify's close() waits for every keep-alive socket that
// was busy when it began, and this client would hold those for 72 s.
const httpClient = new Agent();

const USAGE = `Usage: npm run demo -- [--count N] [--stay] [--mail-dir PATH]

Runs the whole onboarding chain on this machine: a fake Fivetran API, a fake
GCS bucket holding a Connector SDK ZIP and an SMTP inbox. It posts N sample
signups to the real HTTP intake, waits until each user has been emailed a
Connect Card link, prints the links and saves the emails as .eml files.

Options:
  --count N        signups to send, 1..${MAX_COUNT} (default ${DEFAULT_COUNT})
  --stay           keep the service running afterwards, with Bull Board and
                   the intake open, until Ctrl+C (then exit 0)
  --mail-dir PATH  where to save the received emails (default .tmp/demo-mail;
                   its .eml files are deleted at start)
  --help           show this text

Redis: uses REDIS_URL when set (under a throwaway queue prefix), otherwise
starts a private redis-server that is deleted on exit.
Also read: PORT (default: any free port), LOG_LEVEL (default warn).`;

const NO_REDIS_MESSAGE = `The demo needs Redis, and neither REDIS_URL is set nor is redis-server on the
PATH. Either install redis-server (Debian/Ubuntu: sudo apt-get install
redis-server; macOS: brew install redis) and run the demo again, and it will
start a private one for the run and delete it afterwards, or point it at a
Redis you already have with REDIS_URL=redis://host:6379 npm run demo; the demo
then works under a unique queue prefix and does not touch existing data.`;

const PEOPLE: { first: string; last: string; named: boolean }[] = [
  { first: 'Ada', last: 'Lovelace', named: true },
  { first: 'Grace', last: 'Hopper', named: false },
  { first: 'Alan', last: 'Turing', named: true },
  { first: 'Katherine', last: 'Johnson', named: true },
  { first: 'Edsger', last: 'Dijkstra', named: false },
  { first: 'Barbara', last: 'Liskov', named: true },
  { first: 'Donald', last: 'Knuth', named: true },
  { first: 'Margaret', last: 'Hamilton', named: false },
  { first: 'John', last: 'Backus', named: true },
  { first: 'Frances', last: 'Allen', named: true },
];

interface Options {
  count: number;
  stay: boolean;
  mailDir: string;
}

interface DemoUser {
  id: string;
  email: string;
  name: string | undefined;
}

interface Onboarding {
  user: DemoUser;
  id: string;
  state: string;
  failure?: { step?: string; code?: string; reason?: string };
}

class UsageError extends Error {}

function parseOptions(argv: string[]): Options | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        count: { type: 'string' },
        stay: { type: 'boolean', default: false },
        'mail-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) return 'help';
  const countText = values.count ?? String(DEFAULT_COUNT);
  const count = Number(countText);
  if (!/^\d+$/.test(countText) || count < 1 || count > MAX_COUNT) {
    throw new UsageError(
      `--count must be a whole number from 1 to ${MAX_COUNT}, got "${countText}"`,
    );
  }
  const mailDir = values['mail-dir'];
  if (mailDir !== undefined && mailDir.trim() === '') {
    throw new UsageError('--mail-dir must not be empty');
  }
  return {
    count,
    stay: values.stay,
    mailDir: mailDir === undefined ? DEFAULT_MAIL_DIR : resolve(mailDir),
  };
}

function demoUsers(count: number, runId: string): DemoUser[] {
  return Array.from({ length: count }, (_, index) => {
    const person = PEOPLE[index % PEOPLE.length]!;
    const round = Math.floor(index / PEOPLE.length);
    const local = person.first.toLowerCase() + (round === 0 ? '' : round + 1);
    return {
      // The onboarding id is derived from the user id, so a per-run suffix
      // keeps a shared REDIS_URL from recognising users of an earlier run.
      id: `demo-${runId}-${index + 1}`,
      email: `${local}@example.com`,
      name: person.named ? `${person.first} ${person.last}` : undefined,
    };
  });
}

async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, () =>
    (async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index] as T);
      }
    })(),
  );
  await Promise.all(lanes);
  return results;
}

/** Teardown steps, run newest first, each at most once. */
function createCleanup() {
  const steps: { name: string; run: () => Promise<void> }[] = [];
  let running: Promise<void> | undefined;
  return {
    add(name: string, run: () => Promise<void>) {
      steps.push({ name, run });
    },
    run(): Promise<void> {
      running ??= (async () => {
        for (const step of steps.reverse()) {
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<'timeout'>((done) => {
            timer = setTimeout(() => done('timeout'), CLEANUP_TIMEOUT_MS);
          });
          const outcome = await Promise.race([
            step.run().then(
              () => 'done' as const,
              (error: unknown) => {
                console.error(`Stopping ${step.name} failed: ${String(error)}`);
                return 'done' as const;
              },
            ),
            timeout,
          ]);
          clearTimeout(timer);
          if (outcome === 'timeout') {
            console.error(
              `Stopping ${step.name} took over ${CLEANUP_TIMEOUT_MS / 1000} s; giving up on it.`,
            );
          }
        }
      })();
      return running;
    },
  };
}

async function checkRedisUrl(url: string): Promise<string | undefined> {
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    // Reported below like any other non-Redis URL.
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    return 'it must look like redis://host:6379';
  }
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // connect() only rejects with "Connection is closed"; the cause (refused,
  // unknown host, bad password) arrives as an 'error' event.
  let cause: Error | undefined;
  client.on('error', (error: Error) => {
    cause ??= error;
  });
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return (cause ?? (error as Error)).message;
  } finally {
    client.disconnect();
  }
}

async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    // The prefix is a generated {demo-<hex>}; none of it is a glob wildcard.
    const stream = client.scanStream({ match: `${prefix}*`, count: 500 });
    for await (const keys of stream as AsyncIterable<string[]>) {
      if (keys.length > 0) await client.unlink(...keys);
    }
  } finally {
    client.disconnect();
  }
}

function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function recipientLabel(user: DemoUser): string {
  return user.name ? `${user.name} <${user.email}>` : user.email;
}

function connectCardLink(mail: ReceivedMail | undefined): string | undefined {
  return mail?.text.match(/https?:\/\/\S*\/connect-card\/\S+/)?.[0];
}

function mailFor(
  mails: ReceivedMail[],
  onboarding: Onboarding,
): ReceivedMail | undefined {
  // The service sets Message-ID to <onboarding id@domain>, which pins the
  // mail to its onboarding even if two users shared an address.
  return (
    mails.find((mail) => mail.messageId?.startsWith(`<${onboarding.id}@`)) ??
    mails.find((mail) => mail.envelopeTo.includes(onboarding.user.email))
  );
}

function clearMailDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  // Only our own .eml files go: --mail-dir may point at a directory that
  // holds other things.
  for (const entry of readdirSync(dir)) {
    if (entry.endsWith('.eml')) rmSync(join(dir, entry), { force: true });
  }
}

function saveMail(dir: string, mail: ReceivedMail, index: number): string {
  const recipient = (mail.envelopeTo[0] ?? 'unknown').replace(
    /[^\w.@+-]/g,
    '_',
  );
  const file = `${String(index + 1).padStart(3, '0')}-${recipient}.eml`;
  writeFileSync(join(dir, file), mail.raw);
  return file;
}

async function postSignup(
  url: string,
  token: string,
  user: DemoUser,
): Promise<string> {
  const response = await fetch(`${url}/signups`, {
    dispatcher: httpClient,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({
      event_id: `evt-${user.id}`,
      user: {
        id: user.id,
        email: user.email,
        ...(user.name ? { name: user.name } : {}),
      },
    }),
  });
  const body = (await response.json().catch(() => ({}))) as {
    onboarding_id?: string;
    message?: string;
  };
  if (response.status !== 202 || !body.onboarding_id) {
    throw new Error(
      `POST /signups for ${user.email} answered ${response.status}: ${body.message ?? 'no onboarding id'}`,
    );
  }
  return body.onboarding_id;
}

async function pollUntilSettled(
  url: string,
  token: string,
  onboardings: Onboarding[],
  deadline: number,
): Promise<boolean> {
  for (;;) {
    const pending = onboardings.filter((o) => !TERMINAL_STATES.has(o.state));
    if (pending.length === 0) return true;
    if (Date.now() > deadline) return false;
    await mapLimit(pending, REQUEST_CONCURRENCY, async (onboarding) => {
      const response = await fetch(`${url}/signups/${onboarding.id}`, {
        dispatcher: httpClient,
        headers: { authorization: `Bearer ${token}` },
      });
      if (!response.ok) return;
      const body = (await response.json()) as {
        state: string;
        failure?: Onboarding['failure'];
      };
      onboarding.state = body.state;
      onboarding.failure = body.failure;
    });
    await sleep(POLL_INTERVAL_MS);
  }
}

function printReport(
  onboardings: Onboarding[],
  mails: ReceivedMail[],
  mailDir: string,
  savedFiles: string[],
): void {
  const width = Math.max(
    ...onboardings.map((o) => recipientLabel(o.user).length),
  );
  console.log('');
  for (const onboarding of onboardings) {
    const label = recipientLabel(onboarding.user).padEnd(width);
    console.log(`  ${label}  ${onboarding.state}`);
    if (onboarding.state === 'email_sent') {
      const link = connectCardLink(mailFor(mails, onboarding));
      console.log(`    ${link ?? '(no Connect Card link found in the email)'}`);
    } else if (onboarding.failure) {
      const { step, code, reason } = onboarding.failure;
      console.log(
        `    failed at ${step ?? '?'}: ${code ?? ''} ${reason ?? ''}`,
      );
    } else {
      console.log(
        `    stuck in ${onboarding.state} (onboarding ${onboarding.id})`,
      );
    }
  }
  console.log('');
  if (savedFiles.length === 0) {
    console.log(`No emails arrived; ${mailDir} is empty.`);
  } else {
    const plural = savedFiles.length === 1 ? '' : 's';
    console.log(
      `${savedFiles.length} email${plural} received, saved as .eml (open in any mail client):`,
    );
    console.log(`  ${mailDir}`);
  }
}

function printStayInfo(url: string, env: Record<string, string>): void {
  console.log(`
Still running (--stay); press Ctrl+C to stop.
  Bull Board   ${url}${BOARD_PATH}
               user ${env.BOARD_USER}, password ${env.BOARD_PASSWORD}
  Intake       POST ${url}/signups
               Authorization: Bearer ${env.INTAKE_TOKEN}
  Try it:
    curl -i -X POST ${url}/signups \\
      -H 'authorization: Bearer ${env.INTAKE_TOKEN}' \\
      -H 'content-type: application/json' \\
      -d '{"event_id":"evt-1","user":{"id":"me","email":"me@example.com"}}'
  New emails are saved to the mail directory as they arrive.`);
}

/**
 * SIGINT/SIGTERM: while the demo is staying, they end the stay; before that
 * they abort the run, still tearing down what was started so no
 * redis-server is left behind. A second signal exits at once.
 */
function watchSignals(cleanup: ReturnType<typeof createCleanup>) {
  let staying: ((signal: NodeJS.Signals) => void) | undefined;
  let seen = false;
  let started = false;
  let aborted = false;
  const handle = (signal: NodeJS.Signals) => {
    if (seen) process.exit(130);
    seen = true;
    if (staying) {
      staying(signal);
      return;
    }
    aborted = true;
    console.error(`\n${signal} received; stopping the demo.`);
    // During startup the run itself stops at startupDone(): tearing down
    // now would miss whatever is still being launched.
    if (started) void cleanup.run().then(() => process.exit(130));
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
  return {
    get aborted() {
      return aborted;
    },
    /** Marks everything launched as registered; true when already aborted. */
    startupDone(): boolean {
      started = true;
      return aborted;
    },
    /** Resolves with the first signal from now on. */
    next(): Promise<NodeJS.Signals> {
      return new Promise((done) => {
        staying = done;
      });
    },
  };
}

async function run(
  options: Options,
  cleanup: ReturnType<typeof createCleanup>,
  signals: ReturnType<typeof watchSignals>,
): Promise<number> {
  const startedAt = Date.now();
  const runId = randomBytes(4).toString('hex');

  let redisUrl = process.env.REDIS_URL?.trim() || undefined;
  let redisNote: string;
  if (redisUrl) {
    const problem = await checkRedisUrl(redisUrl);
    if (problem) {
      console.error(
        `Cannot reach Redis at REDIS_URL=${redisUrl}: ${problem}\nStart it, fix REDIS_URL, or unset it to let the demo start a private redis-server.`,
      );
      return 1;
    }
    const sharedUrl = redisUrl;
    // Registered first, so it runs last: after the service has stopped
    // writing, nothing of this run is left in a Redis that outlives it.
    cleanup.add('demo keys', () => deleteKeys(sharedUrl, `{demo-${runId}}`));
    redisNote = `REDIS_URL, queue prefix {demo-${runId}} (removed on exit)`;
  } else if (redisServerAvailable()) {
    const redis: RedisProcess = await startRedisProcess();
    cleanup.add('redis-server', () => redis.remove());
    redisUrl = redis.url;
    redisNote = `private redis-server on port ${redis.port}, deleted on exit`;
  } else {
    console.error(NO_REDIS_MESSAGE);
    return 1;
  }

  const sandbox: Sandbox = await startSandbox();
  cleanup.add('sandbox', () => sandbox.close());
  // The GCS client reads the emulator address from the process itself.
  process.env.STORAGE_EMULATOR_HOST = sandbox.env.STORAGE_EMULATOR_HOST;

  const env: Record<string, string> = {
    ...sandbox.env,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: `{demo-${runId}}`,
    INTAKE_TOKEN: randomToken(24),
    BOARD_USER: 'operator',
    BOARD_PASSWORD: randomToken(12),
    CONNECTOR_SECRET_KEYS: 'API_KEY,API_SECRET',
    CONNECT_CARD_REDIRECT_URI: 'https://app.example.com/fivetran/return',
    PORT: process.env.PORT?.trim() || '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.LOG_LEVEL?.trim() || 'warn',
    STEP_BACKOFF_MS: '200',
    // The simulator enforces no limits, and Fivetran's (the defaults) space
    // create calls 3 s apart: --count 20 would already miss the deadline.
    FIVETRAN_RATE_LIMIT: process.env.FIVETRAN_RATE_LIMIT?.trim() || '100/1s',
    FIVETRAN_CREATE_RATE_LIMIT:
      process.env.FIVETRAN_CREATE_RATE_LIMIT?.trim() || '50/1s',
  };
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  let service: RunningService;
  try {
    service = await startService(
      config,
      createLogger(config.logLevel, 'connect-card-worker-demo'),
      'all',
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    console.error(
      `Port ${config.http.port} is taken; unset PORT to use any free port, or pick another.`,
    );
    return 1;
  }
  cleanup.add('service', () => service.stop());
  cleanup.add('HTTP client', () => httpClient.destroy());
  if (signals.startupDone()) return 130;
  const url = service.url as string;

  clearMailDir(options.mailDir);
  const plural = options.count === 1 ? '' : 's';
  console.log(
    `connect-card-worker demo: ${options.count} signup${plural} against a local sandbox (fake Fivetran API, GCS and SMTP; nothing leaves this machine).`,
  );
  console.log(`  Redis    ${redisNote}`);
  console.log(
    `  Service  ${url} (ready in ${seconds(Date.now() - startedAt)})`,
  );

  const intakeStartedAt = Date.now();
  const users = demoUsers(options.count, runId);
  const onboardings: Onboarding[] = await mapLimit(
    users,
    REQUEST_CONCURRENCY,
    async (user) => ({
      user,
      id: await postSignup(url, env.INTAKE_TOKEN as string, user),
      state: 'queued',
    }),
  );
  const settled = await pollUntilSettled(
    url,
    env.INTAKE_TOKEN as string,
    onboardings,
    Date.now() + ONBOARDING_TIMEOUT_MS,
  );
  const finishedAt = Date.now();

  const mails = [...sandbox.smtp.messages];
  const savedFiles = mails.map((mail, index) =>
    saveMail(options.mailDir, mail, index),
  );
  printReport(onboardings, mails, options.mailDir, savedFiles);

  const sent = onboardings.filter((o) => o.state === 'email_sent').length;
  console.log(
    `${sent} of ${onboardings.length} onboarding${plural} emailed in ${seconds(finishedAt - intakeStartedAt)} (${seconds(finishedAt - startedAt)} including startup).`,
  );
  if (!settled) {
    const stuck = onboardings.filter((o) => !TERMINAL_STATES.has(o.state));
    console.log(
      `Gave up after ${ONBOARDING_TIMEOUT_MS / 1000} s with ${stuck.length} still in progress: ${stuck
        .map((o) => `${o.user.email} (${o.state})`)
        .join(', ')}.`,
    );
  }
  const ok = settled && sent === onboardings.length;

  if (options.stay) {
    printStayInfo(url, env);
    let saved = mails.length;
    const watcher = setInterval(() => {
      for (; saved < sandbox.smtp.messages.length; saved += 1) {
        const mail = sandbox.smtp.messages[saved] as ReceivedMail;
        const file = saveMail(options.mailDir, mail, saved);
        console.log(
          `Email to ${mail.envelopeTo.join(', ')} saved as ${file}: ${connectCardLink(mail) ?? '(no link)'}`,
        );
      }
    }, 500);
    cleanup.add('mail watcher', async () => clearInterval(watcher));
    const signal = await signals.next();
    console.log(`\n${signal} received; shutting down.`);
    return 0;
  }
  return ok ? 0 : 1;
}

async function main(): Promise<void> {
  let options: Options | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options === 'help') {
    console.log(USAGE);
    process.exit(0);
  }

  const cleanup = createCleanup();
  const signals = watchSignals(cleanup);

  let code: number;
  try {
    code = await run(options, cleanup, signals);
  } catch (error) {
    // After an abort, requests cut off by the teardown are expected.
    if (!signals.aborted) {
      console.error(
        `The demo failed: ${(error as Error).stack ?? String(error)}`,
      );
    }
    code = 1;
  }
  if (signals.aborted) code = 130;
  await cleanup.run();
  // Client libraries may keep sockets or timers alive for a while after
  // their close(); the demo is done, so it leaves now.
  process.exit(code);
}

await main();
