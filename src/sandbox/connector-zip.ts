import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { zipSync, type Zippable } from 'fflate';

const DEFAULT_PROJECT_DIR = path.resolve(
  import.meta.dirname,
  '../../examples/connector',
);

// fflate writes DOS timestamps from local-time fields, so a date built from
// local components yields the same bytes in every time zone.
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);

// Mirrors the Connector SDK CLI's default exclusions (fivetran-api.md §7).
const EXCLUDED_DIRS = new Set(['__pycache__', 'files', 'lib', 'include']);
const EXCLUDED_FILES = new Set(['configuration.json']);
const REQUIRED_FILES = ['connector.py', 'configuration_form.pb'];

function isExcluded(name: string, isDirectory: boolean): boolean {
  if (name.startsWith('.') && name !== '.gitignore') return true;
  return isDirectory ? EXCLUDED_DIRS.has(name) : EXCLUDED_FILES.has(name);
}

function collectFiles(rootDir: string, relativeDir = ''): string[] {
  const entries = readdirSync(path.join(rootDir, relativeDir), {
    withFileTypes: true,
  });
  const files: string[] = [];
  for (const entry of entries) {
    if (isExcluded(entry.name, entry.isDirectory())) continue;
    const relativePath = path.posix.join(relativeDir, entry.name);
    if (entry.isDirectory()) {
      files.push(...collectFiles(rootDir, relativePath));
    } else if (entry.isFile()) {
      files.push(relativePath);
    }
  }
  return files;
}

/**
 * Packages a Connector SDK project the way `fivetran package` does, with
 * fixed timestamps and sorted entries so the SHA-256 is reproducible.
 */
export function buildConnectorZip(
  projectDir: string = DEFAULT_PROJECT_DIR,
): Buffer {
  const files = collectFiles(projectDir).sort();
  for (const required of REQUIRED_FILES) {
    if (!files.includes(required)) {
      throw new Error(`${projectDir} has no ${required} at its root`);
    }
  }
  const zippable: Zippable = {};
  for (const file of files) {
    zippable[file] = [
      readFileSync(path.join(projectDir, file)),
      { mtime: FIXED_MTIME, level: 6 },
    ];
  }
  return Buffer.from(zipSync(zippable));
}
