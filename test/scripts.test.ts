import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

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
    expect(pkg.scripts.worker).toBe('node src/main.ts worker');
  });
});
