import { ErrorCode, ServiceError } from '../errors.ts';
import type {
  ConnectionRequest,
  FivetranConnection,
} from '../fivetran/types.ts';
import { schemaNameFor } from '../onboarding/ids.ts';
import { requireRecord, type StepDeps, type StepRun } from './step-deps.ts';
import { uploadPackage } from './upload-package.ts';

export interface CreateConnectionResult {
  connectionId: string;
  adopted: boolean;
}

/**
 * Creates the user's connection with empty credential keys, for the user to
 * fill in on the Connect Card. The create call is not idempotent, so the
 * connection is first looked up by its schema (unique per user within the
 * group) and adopted when an earlier attempt already created it.
 */
export async function createConnection(
  deps: StepDeps,
  run: StepRun,
): Promise<CreateConnectionResult> {
  const record = await requireRecord(deps, run.onboardingId);
  if (record.connectionId) {
    run.log.info(
      { connectionId: record.connectionId },
      'connection already created',
    );
    return { connectionId: record.connectionId, adopted: true };
  }
  // No package: the onboarding failed here before and its package was
  // deleted, and an operator retried this step. Upload a new one first.
  const packageId =
    record.packageId ?? (await uploadPackage(deps, run)).packageId;
  const { settings } = deps;
  const schema = schemaNameFor(settings.schemaPrefix, record.userId);
  const redirectUri = redirectUriFor(settings.redirectUri, run.onboardingId);

  const existing = await deps.fivetran.findConnection(
    settings.groupId,
    schema,
    run.signal,
  );
  const outcome = existing
    ? { connection: existing, adopted: true }
    : await createOrAdopt(deps, run, {
        group_id: settings.groupId,
        service: 'connector_sdk',
        run_setup_tests: false,
        paused: true,
        destination_schema_names: 'FIVETRAN_NAMING',
        config: {
          schema,
          package_id: packageId,
          secrets_list: settings.secretKeys.map((key) => ({ key, value: '' })),
          ...(settings.pythonVersion
            ? { python_version: settings.pythonVersion }
            : {}),
        },
        connect_card_config: { redirect_uri: redirectUri },
      });
  const { connection, adopted } = outcome;
  // An adopted connection's card, if it shows one, may be a day old and
  // expired: only a card from our own create is known to be fresh.
  const fresh = adopted ? undefined : connection.connect_card?.uri;
  const connectCardUri =
    fresh ??
    (
      await deps.fivetran.createConnectCard(
        connection.id,
        redirectUri,
        run.signal,
      )
    ).connect_card.uri;
  await deps.store.recordConnection(run.onboardingId, {
    connectionId: connection.id,
    packageId: connection.config?.package_id ?? packageId,
    connectCardUri,
  });
  run.log.info(
    { connectionId: connection.id, schema, adopted },
    'connection ready',
  );
  return { connectionId: connection.id, adopted };
}

async function createOrAdopt(
  deps: StepDeps,
  run: StepRun,
  request: ConnectionRequest,
): Promise<{ connection: FivetranConnection; adopted: boolean }> {
  try {
    const connection = await deps.fivetran.createConnection(
      request,
      run.signal,
    );
    return { connection, adopted: false };
  } catch (error) {
    // 409: the schema is taken in the group, by a create whose answer we
    // lost. Adopt it now instead of failing the step.
    if (
      error instanceof ServiceError &&
      error.code === ErrorCode.FivetranRejected &&
      error.details.httpStatus === 409
    ) {
      const found = await deps.fivetran.findConnection(
        request.group_id,
        request.config.schema,
        run.signal,
      );
      if (found) return { connection: found, adopted: true };
      // Taken, yet not found: the lookup may lag the create. Try again
      // rather than fail the user for good.
      throw new ServiceError(
        ErrorCode.ConnectionConflict,
        `Schema ${request.config.schema} is taken in group ${request.group_id} but no connection was found by it`,
        error.details,
        { cause: error },
      );
    }
    throw error;
  }
}

/** The configured redirect with ?onboarding=<id>, to match the user's return. */
export function redirectUriFor(base: string, onboardingId: string): string {
  const url = new URL(base);
  url.searchParams.set('onboarding', onboardingId);
  return url.toString();
}
