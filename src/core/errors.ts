/**
 * Every reason the service can refuse a request for. The same strings are the HTTP
 * `data.code` and the gRPC `google.rpc.ErrorInfo.reason`; the transports derive
 * their status codes from these in one table each, at the edge. Refusals only HTTP
 * has (a body that is not JSON, an unknown route, …) are the bridge's own
 * (bridge/http/reasons.ts).
 */
export const REASONS = [
  "validation_error",
  "invalid_phone",
  "otp_invalid",
  "otp_expired",
  "phone_already_registered",
  "phone_not_registered",
  "not_authenticated",
  "token_not_valid",
  "token_expired",
  "token_wrong_type",
  "session_expired",
  "token_blacklisted",
  "session_revoked",
  "permission_denied",
  "account_disabled",
  "cannot_modify_self",
  "not_found",
  "rate_limited",
  "otp_attempts_exceeded",
  "service_unavailable",
  "sms_unavailable",
  "internal_error",
] as const;

export type Reason = (typeof REASONS)[number];

const reasonSet: ReadonlySet<string> = new Set(REASONS);

export function isReason(value: string): value is Reason {
  return reasonSet.has(value);
}

export interface AppErrorOptions {
  /** Seconds the caller should wait before trying again (429s). */
  retryAfterSeconds?: number;
  /** Which field was wrong, for validation errors. */
  field?: string;
  cause?: unknown;
}

/** A refusal the caller is told about. Never carries secrets in its message. */
export class AppError extends Error {
  readonly reason: Reason;
  readonly retryAfterSeconds: number | undefined;
  readonly field: string | undefined;

  constructor(reason: Reason, detail?: string, options: AppErrorOptions = {}) {
    super(detail ?? reason, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.reason = reason;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.field = options.field;
  }
}

/**
 * A store (PostgreSQL, Redis, SMS provider) did not answer. Stores throw it so the
 * domain can fail closed without knowing which driver failed; the message is for
 * logs only and is never sent to callers.
 */
export class UnavailableError extends Error {
  readonly dependency: "database" | "cache" | "sms";

  constructor(dependency: "database" | "cache" | "sms", message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UnavailableError";
    this.dependency = dependency;
  }
}
