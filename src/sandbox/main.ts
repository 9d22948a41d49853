import { parseArgs } from 'node:util';
import { buildConnectorZip } from './connector-zip.ts';
import { startFivetranSimulator } from './fivetran-simulator.ts';
import { startGcsFake } from './gcs-fake.ts';
import {
  SANDBOX_BUCKET,
  SANDBOX_MAIL_FROM,
  SANDBOX_OBJECT,
  startSandbox,
} from './sandbox.ts';
import { startSmtpInbox } from './smtp-inbox.ts';

const SERVICES = ['fivetran', 'gcs', 'smtp'] as const;
type Service = (typeof SERVICES)[number];

interface Running {
  env: Record<string, string>;
  close(): Promise<void>;
}

const SANDBOX_DEFAULTS = {
  apiKey: 'sandbox-key',
  apiSecret: 'sandbox-secret',
  groupId: 'sandbox_group',
};

async function startOne(service: Service): Promise<Running> {
  if (service === 'fivetran') {
    const { apiKey, apiSecret, groupId } = SANDBOX_DEFAULTS;
    const fivetran = await startFivetranSimulator({
      apiKey,
      apiSecret,
      groupIds: [groupId],
    });
    return {
      env: {
        FIVETRAN_API_URL: fivetran.url,
        FIVETRAN_API_KEY: apiKey,
        FIVETRAN_API_SECRET: apiSecret,
        FIVETRAN_GROUP_ID: groupId,
      },
      close: () => fivetran.close(),
    };
  }
  if (service === 'gcs') {
    const gcs = await startGcsFake();
    gcs.putObject(SANDBOX_BUCKET, SANDBOX_OBJECT, buildConnectorZip());
    return {
      env: {
        CONNECTOR_PACKAGE: `gs://${SANDBOX_BUCKET}/${SANDBOX_OBJECT}`,
        STORAGE_EMULATOR_HOST: gcs.url,
      },
      close: () => gcs.close(),
    };
  }
  const smtp = await startSmtpInbox();
  return {
    env: { SMTP_URL: smtp.url, MAIL_FROM: SANDBOX_MAIL_FROM },
    close: () => smtp.close(),
  };
}

function parseOnly(): Service | undefined {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    process.stdout.write(
      `Usage: npm run -s sandbox [-- --only ${SERVICES.join('|')}]\n` +
        'Starts the sandbox on loopback and prints export lines for the service.\n',
    );
    process.exit(0);
  }
  if (values.only === undefined) return undefined;
  if (!(SERVICES as readonly string[]).includes(values.only)) {
    throw new Error(`--only must be one of ${SERVICES.join(', ')}`);
  }
  return values.only as Service;
}

async function main() {
  const only = parseOnly();
  const running: Running = only ? await startOne(only) : await startSandbox();
  const stop = () => {
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // Installed before the env lines go out, so a supervisor that signals as
  // soon as it reads them still gets a clean exit.
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Shell-quoted, so the output can be sourced: MAIL_FROM holds <...>.
  for (const [name, value] of Object.entries(running.env)) {
    process.stdout.write(`export ${name}=${shellQuote(value)}\n`);
  }
  process.stderr.write('Sandbox running; press Ctrl+C to stop.\n');
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

main().catch((error: unknown) => {
  // parseArgs' own errors name the unknown option; no stack needed.
  process.stderr.write(`${(error as Error).message ?? String(error)}\n`);
  process.exit(1);
});
