/**
 * What the domain counts, said where each decision is made (a Verify's result, a
 * refresh's outcome, the limit that refused). The domain names events; how they
 * become series (prom-client, src/observability/metrics.ts) is not its business.
 * Every label value is from a closed set: never a phone, an id, a token or an IP.
 */
import type { Reason } from "../errors.js";
import type { OtpPurpose } from "../otp/keys.js";

export type RefreshOutcome = "rotated" | "grace_replay" | "reuse_detected" | "refused";

/** Why sessions ended (identity_sessions_revoked_total's `reason`). */
export type RevocationCause = "logout" | "logout_all" | "logout_others" | "user" | "admin" | "deactivated" | "reuse_detected";

/** Which limit refused a call (identity_rate_limited_total's `limit`). */
export type RateLimit = "otp_per_phone" | "otp_per_ip" | "otp_resend" | "otp_lockout";

export type TokenKind = "access" | "refresh";

export interface DomainMetrics {
  /** A Verify answered: `valid`, or the reason it was not. */
  verified(result: "valid" | Reason): void;
  /** A one-time code was checked: `ok`, or the reason it was refused. */
  otpChecked(purpose: OtpPurpose, result: "ok" | Reason): void;
  /** A code's SMS was handed to `provider` (`ok`) or every attempt failed (`error`). */
  otpSent(purpose: OtpPurpose, provider: string, result: "ok" | "error"): void;
  /** One provider call, however it ended (identity_sms_duration_seconds). */
  smsCall(provider: string, seconds: number): void;
  tokensIssued(kind: TokenKind, count?: number): void;
  refreshed(outcome: RefreshOutcome): void;
  /** `count` sessions ended for `cause` (0 is not counted). */
  sessionsRevoked(cause: RevocationCause, count: number): void;
  rateLimited(limit: RateLimit): void;
}

const nothing = (): void => {};

/** For tests and for METRICS_PORT=off: every event is dropped at the cost of a call. */
export const noMetrics: DomainMetrics = {
  verified: nothing,
  otpChecked: nothing,
  otpSent: nothing,
  smsCall: nothing,
  tokensIssued: nothing,
  refreshed: nothing,
  sessionsRevoked: nothing,
  rateLimited: nothing,
};
