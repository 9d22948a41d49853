import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CONFIG_VARIABLES, loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';

const VALID_ENV = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  FIVETRAN_API_KEY: 'key',
  FIVETRAN_API_SECRET: 'secret',
  FIVETRAN_GROUP_ID: 'projected_sickle',
  CONNECTOR_PACKAGE: 'gs://bucket/path/connector.zip',
  CONNECTOR_SECRET_KEYS: 'API_KEY, API_SECRET',
  CONNECT_CARD_REDIRECT_URI: 'https://app.example.com/return',
  SMTP_URL: 'smtps://user:pass@smtp.example.com:465',
  MAIL_FROM: 'Onboarding <onboarding@example.com>',
  INTAKE_TOKEN: 'a-long-enough-intake-token',
  BOARD_USER: 'operator',
  BOARD_PASSWORD: 'board-password',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('configuration', () => {
  it('reads a valid environment with its defaults', () => {
    const config = loadConfig(VALID_ENV);
    expect(config.fivetran.apiUrl).toBe('https://api.fivetran.com');
    expect(config.connector).toMatchObject({
      bucket: 'bucket',
      object: 'path/connector.zip',
      secretKeys: ['API_KEY', 'API_SECRET'],
      pythonVersion: undefined,
    });
    expect(config.fivetran.rateLimit).toEqual({
      max: 20000,
      windowMs: 3_600_000,
    });
    expect(config.fivetran.createRateLimit).toEqual({
      max: 20,
      windowMs: 60_000,
    });
    expect(config.http.port).toBe(3000);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lists every missing variable at once', () => {
    const problems = problemsOf({});
    for (const name of Object.keys(VALID_ENV)) {
      expect(problems).toContain(`${name} is required`);
    }
  });

  it('names each invalid value', () => {
    const problems = problemsOf({
      ...VALID_ENV,
      REDIS_URL: 'http://localhost',
      CONNECTOR_PACKAGE: 's3://bucket/x.zip',
      SMTP_URL: 'mailto:x@example.com',
      CONNECT_CARD_REDIRECT_URI: 'ftp://example.com',
      FIVETRAN_RATE_LIMIT: 'lots',
      PORT: 'eighty',
      CONNECTOR_PYTHON_VERSION: 'py3',
      CONNECTOR_SECRET_KEYS: 'A,A',
      QUEUE_PREFIX: 'ccw',
    });
    const names = problems.map((problem) => problem.split(' ')[0]);
    expect(names.sort()).toEqual([
      'CONNECTOR_PACKAGE',
      'CONNECTOR_PYTHON_VERSION',
      'CONNECTOR_SECRET_KEYS',
      'CONNECT_CARD_REDIRECT_URI',
      'FIVETRAN_RATE_LIMIT',
      'PORT',
      'QUEUE_PREFIX',
      'REDIS_URL',
      'SMTP_URL',
    ]);
  });

  it('documents every variable in the README', () => {
    const readme = readFileSync(
      new URL('../README.md', import.meta.url),
      'utf8',
    );
    const table = readme.slice(
      readme.indexOf('## Configuration'),
      readme.indexOf('## How the chain works'),
    );
    const documented = new Set(
      [...table.matchAll(/`([A-Z][A-Z_]+)`/g)].map((match) => match[1]),
    );
    for (const name of CONFIG_VARIABLES) expect(documented).toContain(name);
  });

  it('lets a worker start without the HTTP secrets', () => {
    const { INTAKE_TOKEN, BOARD_USER, BOARD_PASSWORD, ...workerEnv } =
      VALID_ENV;
    expect([INTAKE_TOKEN, BOARD_USER, BOARD_PASSWORD]).not.toContain('');
    const config = loadConfig(workerEnv, 'worker');
    expect(config.intakeToken).toBeUndefined();
    expect(config.board).toBeUndefined();
    expect(problemsOf(workerEnv)).toEqual([
      'INTAKE_TOKEN is required',
      'BOARD_USER is required',
      'BOARD_PASSWORD is required',
    ]);
  });

  it('says a value of the wrong kind is wrong, not missing', () => {
    const problems = problemsOf({
      ...VALID_ENV,
      PORT: 'abc',
      WORKER_CONCURRENCY: '1.5',
      FIVETRAN_TIMEOUT_MS: '0',
      MAIL_FROM: 'not-an-address',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'PORT must be a port number',
        'WORKER_CONCURRENCY must be a whole number',
        'FIVETRAN_TIMEOUT_MS must be at least 1000 ms',
        expect.stringMatching(/^MAIL_FROM must hold an address/),
      ]),
    );
    expect(problems.join('\n')).not.toContain('is required');
  });

  it('parses rate limits written N/duration', () => {
    const config = loadConfig({
      ...VALID_ENV,
      FIVETRAN_RATE_LIMIT: '600/1m',
      FIVETRAN_CREATE_RATE_LIMIT: '5/30s',
    });
    expect(config.fivetran.rateLimit).toEqual({ max: 600, windowMs: 60_000 });
    expect(config.fivetran.createRateLimit).toEqual({
      max: 5,
      windowMs: 30_000,
    });
  });

  it('makes `npm start` refuse to start with one message listing the problems', () => {
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const run = spawnSync(process.execPath, [main], {
      env: { PATH: process.env.PATH, REDIS_URL: 'redis://127.0.0.1:1' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Invalid configuration');
    expect(run.stderr).toContain('FIVETRAN_API_KEY is required');
    expect(run.stderr).toContain('INTAKE_TOKEN is required');
    expect(run.stderr).not.toContain('REDIS_URL');
  });
});
