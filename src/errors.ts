/**
 * The error catalogue. Every failure this service raises carries one of these
 * stable codes; retry decisions are made from the code alone (see
 * RETRYABLE_CODES), never from message text, so messages may be reworded.
 */
export const ErrorCode = {
  /** The environment is missing or has invalid settings. */
  ConfigInvalid: 'CONFIG_INVALID',
  /** Fivetran refused the request for good (400, 401, 403, 404, 409...). */
  FivetranRejected: 'FIVETRAN_REJECTED',
  /** Fivetran answered 429; the budget is paused until Retry-After. */
  FivetranRateLimited: 'FIVETRAN_RATE_LIMITED',
  /** Fivetran answered 5xx. The request may have been acted on. */
  FivetranUnavailable: 'FIVETRAN_UNAVAILABLE',
  /** The socket failed. The request may have been acted on. */
  FivetranNetwork: 'FIVETRAN_NETWORK',
  /** No answer within the timeout. The request may have been acted on. */
  FivetranTimeout: 'FIVETRAN_TIMEOUT',
  /** 409 on create, but the lookup by schema found nothing (yet). */
  ConnectionConflict: 'CONNECTION_CONFLICT',
  /** A 2xx whose body is not the documented envelope. */
  FivetranBadResponse: 'FIVETRAN_BAD_RESPONSE',
  /** Fivetran's file_sha256_hash differs from the bytes sent. */
  PackageHashMismatch: 'PACKAGE_HASH_MISMATCH',
  /** The package ZIP does not exist in GCS, or access is denied. */
  PackageSourceMissing: 'PACKAGE_SOURCE_MISSING',
  /** The package ZIP exceeds the 200 MB upload limit. */
  PackageTooLarge: 'PACKAGE_TOO_LARGE',
  /** GCS failed or served bytes that failed checksum validation. */
  PackageSourceUnavailable: 'PACKAGE_SOURCE_UNAVAILABLE',
  /** The SMTP server refused the message for good (5xx). */
  MailRejected: 'MAIL_REJECTED',
  /** The SMTP server was unreachable or answered 4xx. */
  MailUnavailable: 'MAIL_UNAVAILABLE',
  /** A step waited out rate limits longer than allowed in total. */
  RateLimitWaitExceeded: 'RATE_LIMIT_WAIT_EXCEEDED',
  /** A job names an onboarding that has no record. */
  OnboardingMissing: 'ONBOARDING_MISSING',
  /** A step ran before the step it depends on had recorded its result. */
  StepOutOfOrder: 'STEP_OUT_OF_ORDER',
  /** A job stalled more often than allowed: its workers kept dying. */
  JobStalled: 'JOB_STALLED',
  /** The service is shutting down; the job is handed back. */
  ShuttingDown: 'SHUTTING_DOWN',
  /** A signup event failed validation. */
  InvalidSignup: 'INVALID_SIGNUP',
  /** Redis is unreachable; the signup was not (reliably) stored. */
  IntakeUnavailable: 'INTAKE_UNAVAILABLE',
  /** Another run holds the claim to send this onboarding's email. */
  EmailSendInProgress: 'EMAIL_SEND_IN_PROGRESS',
  /** The shared Fivetran budget has no slot soon enough to wait inline. */
  BudgetExhausted: 'BUDGET_EXHAUSTED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.FivetranRateLimited,
  ErrorCode.BudgetExhausted,
  ErrorCode.FivetranUnavailable,
  ErrorCode.FivetranNetwork,
  ErrorCode.FivetranTimeout,
  ErrorCode.ConnectionConflict,
  // A mangled upload or a bad body is worth another try before giving up.
  ErrorCode.FivetranBadResponse,
  ErrorCode.PackageHashMismatch,
  ErrorCode.PackageSourceUnavailable,
  ErrorCode.MailUnavailable,
  ErrorCode.EmailSendInProgress,
  ErrorCode.StepOutOfOrder,
  ErrorCode.ShuttingDown,
]);

/** Codes after which Fivetran may have carried out the request anyway. */
const UNCERTAIN_OUTCOME_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.FivetranUnavailable,
  ErrorCode.FivetranNetwork,
  ErrorCode.FivetranTimeout,
  ErrorCode.FivetranBadResponse,
]);

export interface ServiceErrorDetails {
  /** HTTP status of the upstream answer, when there was one. */
  httpStatus?: number;
  /** Fivetran's own `code` field, e.g. InvalidInput or NotFound_Group. */
  upstreamCode?: string;
  /** Seconds the upstream asked us to wait (429 Retry-After). */
  retryAfterSeconds?: number;
  /** How long the shared budget says to wait before the next call. */
  waitMs?: number;
}

export class ServiceError extends Error {
  readonly code: ErrorCode;
  readonly details: ServiceErrorDetails;

  constructor(
    code: ErrorCode,
    message: string,
    details: ServiceErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ServiceError';
    this.code = code;
    this.details = details;
  }
}

export class ConfigError extends ServiceError {
  readonly problems: string[];

  constructor(problems: string[]) {
    const plural = problems.length === 1 ? '' : 's';
    super(
      ErrorCode.ConfigInvalid,
      `Invalid configuration (${problems.length} problem${plural}):\n` +
        problems.map((problem) => `  - ${problem}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function isRetryable(error: unknown): boolean {
  // Errors we did not classify (bugs, library surprises) are retried: the
  // attempt budget bounds them, and failing a signup for good on an unknown
  // hiccup would lose it.
  if (!(error instanceof ServiceError)) return true;
  return RETRYABLE_CODES.has(error.code);
}

export function mayHaveReachedUpstream(error: unknown): boolean {
  if (!(error instanceof ServiceError)) return true;
  return UNCERTAIN_OUTCOME_CODES.has(error.code);
}

export function hasCode(
  error: unknown,
  code: ErrorCode,
): error is ServiceError {
  return error instanceof ServiceError && error.code === code;
}
