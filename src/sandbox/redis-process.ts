import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export interface RedisProcess {
  url: string;
  port: number;
  dir: string;
  /** Stops the server (SIGTERM, so an AOF is flushed); keeps its data. */
  stop(): Promise<void>;
  /** Starts a stopped server again on the same port and data. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the server and deletes its data. */
  remove(): Promise<void>;
}

export interface RedisProcessOptions {
  port?: number;
  /** Append-only file with fsync every second, as in production. */
  appendOnly?: boolean;
}

export function redisServerAvailable(): boolean {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return probe.status === 0;
}

/** Starts a private redis-server on loopback, in a temporary directory. */
export async function startRedisProcess(
  options: RedisProcessOptions = {},
): Promise<RedisProcess> {
  if (!redisServerAvailable()) {
    throw new Error(
      'redis-server is not on PATH. Install it (Debian: apt-get install redis-server) or set REDIS_URL.',
    );
  }
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'ccw-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    options.appendOnly ? 'yes' : 'no',
    '--appendfsync',
    'everysec',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
    '--logfile',
    join(dir, 'redis.log'),
  ];
  let child: ChildProcess = await launch(args, port);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      await terminate(child);
    },
    async start() {
      if (child.exitCode === null && child.signalCode === null) return;
      child = await launch(args, port);
    },
    async restart() {
      await terminate(child);
      child = await launch(args, port);
    },
    async remove() {
      await terminate(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function launch(args: string[], port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const client = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    // Refusals are expected until the server listens.
    client.on('error', () => {});
    try {
      await client.connect();
      // PING answers LOADING while an AOF is replayed; wait for real data.
      if ((await client.ping()) === 'PONG') return child;
    } catch {
      // Not up yet.
    } finally {
      client.disconnect();
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not start on port ${port}`);
}

function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}
