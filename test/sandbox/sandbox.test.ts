import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { Storage } from '@google-cloud/storage';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { buildConnectorZip } from '../../src/sandbox/connector-zip.ts';
import { SANDBOX_MAIL_FROM, startSandbox } from '../../src/sandbox/sandbox.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('connector zip', () => {
  it('is byte-for-byte reproducible with the SDK layout', () => {
    const zip = buildConnectorZip();
    expect(sha256(buildConnectorZip())).toBe(sha256(zip));
    const entries = unzipSync(zip);
    expect(Object.keys(entries)).toEqual([
      'configuration_form.pb',
      'connector.py',
      'requirements.txt',
    ]);
    expect(entries['configuration_form.pb']).toHaveLength(0);
  });
});

describe('sandbox', () => {
  it('serves the connector zip at CONNECTOR_PACKAGE', async () => {
    const sandbox = await startSandbox();
    try {
      const { bucket, object } = parseGsUrl(sandbox.env.CONNECTOR_PACKAGE);
      const storage = new Storage({
        apiEndpoint: sandbox.gcs.url,
        projectId: 'p',
      });
      const [bytes] = await storage.bucket(bucket).file(object).download();
      expect(sha256(bytes)).toBe(sha256(sandbox.packageZip));
      expect(sandbox.env).toMatchObject({
        FIVETRAN_API_URL: sandbox.fivetran.url,
        FIVETRAN_GROUP_ID: 'sandbox_group',
        STORAGE_EMULATOR_HOST: sandbox.gcs.url,
        SMTP_URL: sandbox.smtp.url,
      });
    } finally {
      await sandbox.close();
    }
  });

  it('runs as a CLI that prints env lines and exits 0 on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      ['src/sandbox/main.ts', '--only', 'fivetran'],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8');
    for await (const chunk of child.stdout) {
      stdout += chunk as string;
      if (stdout.includes('FIVETRAN_GROUP_ID=')) break;
    }
    expect(stdout).toMatch(
      /^export FIVETRAN_API_URL='http:\/\/127\.0\.0\.1:\d+'$/m,
    );
    expect(stdout).not.toMatch(/SMTP_URL/);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });
});

describe('sandbox CLI output', () => {
  it('can be sourced by a shell, values intact', async () => {
    const child = spawn(process.execPath, ['src/sandbox/main.ts'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    for await (const chunk of child.stdout) {
      stdout += chunk as string;
      if (stdout.includes('MAIL_FROM=')) break;
    }
    const shell = spawnSync(
      'bash',
      ['-c', `${stdout}\nprintf '%s' "$MAIL_FROM"`],
      { encoding: 'utf8' },
    );
    child.kill('SIGTERM');
    await once(child, 'exit');
    expect(shell.status).toBe(0);
    expect(shell.stdout).toBe(SANDBOX_MAIL_FROM);
  });
});

function parseGsUrl(url: string | undefined): {
  bucket: string;
  object: string;
} {
  const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(url ?? '');
  if (!match?.[1] || !match[2]) throw new Error(`Not a gs:// URL: ${url}`);
  return { bucket: match[1], object: match[2] };
}
