import type { Redis } from 'ioredis';

export const OnboardingState = {
  Queued: 'queued',
  PackageUploaded: 'package_uploaded',
  ConnectionCreated: 'connection_created',
  EmailSent: 'email_sent',
  Failed: 'failed',
} as const;

export type OnboardingState =
  (typeof OnboardingState)[keyof typeof OnboardingState];

export interface NewOnboarding {
  onboardingId: string;
  userId: string;
  email: string;
  name: string | undefined;
  eventId: string;
}

/** Everything kept about one user's onboarding, beside the queues. */
export interface OnboardingRecord {
  onboardingId: string;
  userId: string;
  email: string;
  name: string | undefined;
  eventId: string;
  state: OnboardingState;
  createdAt: string;
  updatedAt: string;
  packageId?: string;
  packageUploadedAt?: string;
  connectionId?: string;
  connectionCreatedAt?: string;
  /** Holds the Connect Card token: never log it or return it over HTTP. */
  connectCardUri?: string;
  connectCardCreatedAt?: string;
  emailMessageId?: string;
  emailSendingAt?: string;
  emailSentAt?: string;
  /** The package removed when the onboarding failed before connecting. */
  deletedPackageId?: string;
  packageDeletedAt?: string;
  failedAt?: string;
  failedStep?: string;
  failureCode?: string;
  failureReason?: string;
}

// Field names in the Redis hash, shared by the TypeScript and Lua sides.
const FIELD: Record<keyof OnboardingRecord, string> = {
  onboardingId: 'onboarding_id',
  userId: 'user_id',
  email: 'email',
  name: 'name',
  eventId: 'event_id',
  state: 'state',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  packageId: 'package_id',
  packageUploadedAt: 'package_uploaded_at',
  connectionId: 'connection_id',
  connectionCreatedAt: 'connection_created_at',
  connectCardUri: 'connect_card_uri',
  connectCardCreatedAt: 'connect_card_created_at',
  emailMessageId: 'email_message_id',
  emailSendingAt: 'email_sending_at',
  emailSentAt: 'email_sent_at',
  deletedPackageId: 'deleted_package_id',
  packageDeletedAt: 'package_deleted_at',
  failedAt: 'failed_at',
  failedStep: 'failed_step',
  failureCode: 'failure_code',
  failureReason: 'failure_reason',
};

const STATE_RANK: Record<OnboardingState, number> = {
  queued: 0,
  package_uploaded: 1,
  connection_created: 2,
  email_sent: 3,
  failed: -1,
};

// Writes fields and moves the state forward only: a step that runs late (a
// stalled job finishing after its retry) must not pull a finished onboarding
// back. `failed` is left by any success, and is entered from any state but
// email_sent. ARGV: newState ('' for none), newRank, now, then field/value.
const UPDATE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if ARGV[1] ~= '' then
  local current = redis.call('HGET', KEYS[1], 'state')
  local ranks = {queued = 0, package_uploaded = 1, connection_created = 2, email_sent = 3, failed = -1}
  local currentRank = ranks[current] or 0
  local newRank = tonumber(ARGV[2])
  local advance = false
  if newRank < 0 then
    advance = current ~= 'email_sent'
  else
    advance = current == 'failed' or newRank > currentRank
  end
  if advance then redis.call('HSET', KEYS[1], 'state', ARGV[1]) end
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
return 1
`;

// KEYS: record, package owners. ARGV: package id, onboarding id, now.
// Returns the standing package id, or nil when there is no record.
const RECORD_PACKAGE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local current = redis.call('HGET', KEYS[1], 'package_id')
if current and current ~= ARGV[1] then return current end
redis.call('HSET', KEYS[1], 'package_id', ARGV[1],
  'package_uploaded_at', ARGV[3], 'updated_at', ARGV[3])
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'failed' then
  redis.call('HSET', KEYS[1], 'state', 'package_uploaded')
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return ARGV[1]
`;

export type OnboardingStore = ReturnType<typeof createOnboardingStore>;

export function createOnboardingStore(
  redis: Redis,
  prefix: string,
  now: () => Date = () => new Date(),
) {
  const keyOf = (onboardingId: string) =>
    `${prefix}:onboarding:${onboardingId}`;
  // Which onboarding recorded each package, and every ZIP hash we sent:
  // together they tell the orphan sweep which unbound packages are ours
  // and lost rather than in use or someone else's.
  const packageOwnersKey = `${prefix}:packages:owners`;
  const uploadedHashesKey = `${prefix}:packages:hashes`;

  async function update(
    onboardingId: string,
    state: OnboardingState | undefined,
    fields: Partial<OnboardingRecord>,
  ): Promise<void> {
    const args: string[] = [
      state ?? '',
      String(state ? STATE_RANK[state] : 0),
      now().toISOString(),
    ];
    for (const [name, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      args.push(FIELD[name as keyof OnboardingRecord], String(value));
    }
    const updated = await redis.eval(
      UPDATE_SCRIPT,
      1,
      keyOf(onboardingId),
      ...args,
    );
    if (updated !== 1) {
      throw new Error(`No onboarding record ${onboardingId}`);
    }
  }

  return {
    /** Creates the record unless one exists; true when this call created it. */
    async create(input: NewOnboarding): Promise<boolean> {
      const at = now().toISOString();
      const fields: Partial<OnboardingRecord> = {
        ...input,
        state: OnboardingState.Queued,
        createdAt: at,
        updatedAt: at,
      };
      const args: string[] = [];
      for (const [name, value] of Object.entries(fields)) {
        if (value === undefined) continue;
        args.push(FIELD[name as keyof OnboardingRecord], String(value));
      }
      const created = await redis.eval(
        `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
         redis.call('HSET', KEYS[1], unpack(ARGV))
         return 1`,
        1,
        keyOf(input.onboardingId),
        ...args,
      );
      return created === 1;
    },

    async get(onboardingId: string): Promise<OnboardingRecord | undefined> {
      const hash = await redis.hgetall(keyOf(onboardingId));
      if (!hash[FIELD.onboardingId]) return undefined;
      const record: Record<string, string> = {};
      for (const [name, field] of Object.entries(FIELD)) {
        const value = hash[field];
        if (value !== undefined) record[name] = value;
      }
      return record as unknown as OnboardingRecord;
    },

    /**
     * Records the onboarding's package unless another run recorded one
     * first; returns the package that stands. Two runs of the upload step
     * (a stalled lock) may both upload: the loser must delete its own.
     */
    async recordPackage(
      onboardingId: string,
      packageId: string,
    ): Promise<string> {
      const standing = await redis.eval(
        RECORD_PACKAGE_SCRIPT,
        2,
        keyOf(onboardingId),
        packageOwnersKey,
        packageId,
        onboardingId,
        now().toISOString(),
      );
      if (standing === null) {
        throw new Error(`No onboarding record ${onboardingId}`);
      }
      return String(standing);
    },

    /** Called before an upload, so a lost answer still leaves a trace. */
    async noteUploadedHash(sha256: string) {
      await redis.sadd(uploadedHashesKey, sha256);
    },

    async isUploadedHash(sha256: string): Promise<boolean> {
      return (await redis.sismember(uploadedHashesKey, sha256)) === 1;
    },

    /** The onboarding that recorded this package, if any did. */
    async ownerOfPackage(packageId: string): Promise<string | undefined> {
      return (await redis.hget(packageOwnersKey, packageId)) ?? undefined;
    },

    recordConnection(
      onboardingId: string,
      connection: {
        connectionId: string;
        packageId: string;
        connectCardUri: string;
      },
    ) {
      const at = now().toISOString();
      return update(onboardingId, OnboardingState.ConnectionCreated, {
        ...connection,
        connectionCreatedAt: at,
        connectCardCreatedAt: at,
      });
    },

    recordConnectCard(onboardingId: string, connectCardUri: string) {
      return update(onboardingId, undefined, {
        connectCardUri,
        connectCardCreatedAt: now().toISOString(),
      });
    },

    /**
     * Claims the right to send this onboarding's email for ttlMs. Two runs
     * of one step (a stalled job re-run while the first still works, or an
     * operator's retry) must not both send. Returns 0 when claimed, else the
     * milliseconds until the other claim lapses.
     */
    async claimEmailSend(
      onboardingId: string,
      owner: string,
      ttlMs: number,
    ): Promise<number> {
      const waitMs = await redis.eval(
        `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
           return 0
         end
         if redis.call('GET', KEYS[1]) == ARGV[1] then
           redis.call('PEXPIRE', KEYS[1], ARGV[2])
           return 0
         end
         return math.max(1, redis.call('PTTL', KEYS[1]))`,
        1,
        `${keyOf(onboardingId)}:email-claim`,
        owner,
        ttlMs,
      );
      if (Number(waitMs) === 0) {
        await update(onboardingId, undefined, {
          emailSendingAt: now().toISOString(),
        });
      }
      return Number(waitMs);
    },

    async releaseEmailSend(onboardingId: string, owner: string) {
      await redis.eval(
        `if redis.call('GET', KEYS[1]) == ARGV[1] then
           return redis.call('DEL', KEYS[1])
         end
         return 0`,
        1,
        `${keyOf(onboardingId)}:email-claim`,
        owner,
      );
    },

    recordEmailSent(onboardingId: string, messageId: string) {
      return update(onboardingId, OnboardingState.EmailSent, {
        emailMessageId: messageId,
        emailSentAt: now().toISOString(),
      });
    },

    /**
     * Forgets a deleted package, so a retried onboarding uploads a new one
     * instead of naming a package Fivetran no longer has.
     */
    async recordPackageDeleted(onboardingId: string, packageId: string) {
      await update(onboardingId, undefined, {
        deletedPackageId: packageId,
        packageDeletedAt: now().toISOString(),
      });
      await redis.eval(
        `if redis.call('HGET', KEYS[1], 'package_id') == ARGV[1] then
           redis.call('HDEL', KEYS[1], 'package_id', 'package_uploaded_at')
         end
         return 1`,
        1,
        keyOf(onboardingId),
        packageId,
      );
    },

    recordFailure(
      onboardingId: string,
      failure: { step: string; code: string; reason: string },
    ) {
      return update(onboardingId, OnboardingState.Failed, {
        failedAt: now().toISOString(),
        failedStep: failure.step,
        failureCode: failure.code,
        failureReason: failure.reason,
      });
    },
  };
}
