import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  ServiceError,
  isRetryable,
  mayHaveReachedUpstream,
} from '../src/errors.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('error catalogue', () => {
  it('documents every code in the README, and no code that does not exist', () => {
    const section = readme.slice(readme.indexOf('### Error codes'));
    const documented = [...section.matchAll(/^\|\s*`([A-Z_]+)`\s*\|/gm)].map(
      (match) => match[1],
    );
    expect(documented.sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it('decides retries by code, whatever the message says', () => {
    const rejected = new ServiceError(
      ErrorCode.FivetranRejected,
      'temporarily unavailable, please retry',
    );
    const unavailable = new ServiceError(
      ErrorCode.FivetranUnavailable,
      'permanent failure',
    );
    expect(isRetryable(rejected)).toBe(false);
    expect(isRetryable(unavailable)).toBe(true);
    expect(mayHaveReachedUpstream(unavailable)).toBe(true);
    expect(
      mayHaveReachedUpstream(new ServiceError(ErrorCode.FivetranRejected, '')),
    ).toBe(false);
  });
});
