import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const REPO_ROOT = resolve(import.meta.dirname, '..');
const LINK = String.raw`https://fivetran\.com/connect-card/setup\?\S+`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runDemo(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['scripts/demo.ts', ...args],
      { cwd: REPO_ROOT, env, timeout: 55_000 },
      (error, stdout, stderr) => {
        const code = error ? (error.code as number | null) : 0;
        done({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}

describe('npm run demo', () => {
  let mailDir: string | undefined;

  afterEach(() => {
    if (mailDir) rmSync(mailDir, { recursive: true, force: true });
  });

  it('onboards two users and saves both emails', async () => {
    mailDir = mkdtempSync(join(tmpdir(), 'ccw-demo-mail-'));
    // The demo must bring its own Redis, as on a newcomer's machine.
    const { REDIS_URL: _redisUrl, PORT: _port, ...env } = process.env;

    const run = await runDemo(['--count', '2', '--mail-dir', mailDir], env);

    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    for (const email of ['ada@example.com', 'grace@example.com']) {
      const escaped = email.replaceAll('.', String.raw`\.`);
      expect(run.stdout).toMatch(
        new RegExp(`${escaped}>?\\s+email_sent\\n\\s+${LINK}`),
      );
    }
    expect(run.stdout).toContain(mailDir);

    const files = readdirSync(mailDir).sort();
    expect(files).toHaveLength(2);
    const recipients = files.map((file) => {
      expect(file).toMatch(/\.eml$/);
      const raw = readFileSync(join(mailDir as string, file), 'utf8');
      expect(raw).toMatch(/^Subject: Connect your data source\r?$/m);
      return /^To: ([^\r\n]+)/m.exec(raw)?.[1];
    });
    // Files are numbered in arrival order, which the workers do not fix.
    expect(recipients.sort()).toEqual(['ada@example.com', 'grace@example.com']);
  }, 60_000);
});
