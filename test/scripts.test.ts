import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { testEnv, UNREACHED_SERVICES_ENV } from './support/service.ts';
import { waitFor } from './support/wait-for.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as {
  scripts: Record<string, string>;
};

describe('npm scripts', () => {
  it('point at files that exist', () => {
    for (const [name, command] of Object.entries(pkg.scripts)) {
      for (const [, file] of command.matchAll(/\bnode (\S+\.ts)\b/g)) {
        expect(existsSync(`${root}/${file}`), `${name}: ${file}`).toBe(true);
      }
    }
    expect(pkg.scripts.worker).toBe('exec node src/main.ts worker');
  });
});

describe('npm run worker', () => {
  it('passes SIGTERM on to the service, which stops', async () => {
    const env = testEnv(UNREACHED_SERVICES_ENV, { LOG_LEVEL: 'info' });
    const npm = spawn('npm', ['run', '-s', 'worker'], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(
      async () => output,
      (text) => text.includes('workers started'),
      20_000,
    );
    const started = output
      .split('\n')
      .find((line) => line.includes('workers started'));
    const servicePid = (JSON.parse(started as string) as { pid: number }).pid;

    const exited = once(npm, 'exit');
    npm.kill('SIGTERM');
    await exited;
    await waitFor(
      async () => isAlive(servicePid),
      (alive) => !alive,
      10_000,
    );
  }, 40_000);
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
