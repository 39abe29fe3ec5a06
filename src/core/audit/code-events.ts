/**
 * The audit events of one-time codes (`otp.sent`, `user.login_failed`,
 * `user.locked_out`). A code's state lives in the key-value store, so its events
 * cannot share a transaction with it: each is appended right after what it
 * records, before the request is answered.
 *
 * By then the thing has happened (an SMS went out, a guess was counted), so a
 * trail that cannot be written does not fail the request: failing a send-otp
 * whose SMS was delivered would only bring a second SMS, and a refused code must
 * still be answered with its own reason, not a 503. The gap is logged (warn) with
 * the event's type, for operators to see. Never a code in an event or that line.
 */
import type { CoreDeps } from "../deps.js";
import type { AuditEventType, StandaloneAuditEvent } from "../ports/audit.js";
import type { ClientInfo } from "../ports/sessions.js";
import type { User } from "../ports/users.js";
import type { OtpPurpose } from "../otp/keys.js";

type Deps = Pick<CoreDeps, "audit" | "users" | "clock" | "log">;

/** A code reached the SMS provider: `details.purpose` and `details.provider` (the one
 * that took it, of a failover list).
 * `owner` is the number's user when send-otp has read it already (undefined: none),
 * so the trail does not read it again. */
export async function auditCodeSent(
  deps: Deps,
  sent: { phone: string; purpose: OtpPurpose; provider: string; client: ClientInfo; owner?: { user: User | undefined } | undefined },
): Promise<void> {
  await appendAbout(deps, sent.phone, ["otp.sent"], sent.owner, (user, at) => [
    {
      type: "otp.sent",
      at,
      userId: user?.id ?? null,
      // Asked in the name of the number's owner, if it has one; no one's otherwise.
      actor: user === undefined ? { kind: "system" } : undefined,
      client: sent.client,
      details: { purpose: sent.purpose, provider: sent.provider },
    },
  ]);
}

export interface CodeRefusal {
  phone: string;
  purpose: OtpPurpose;
  client: ClientInfo;
  /** The refusal's reason: otp_invalid, otp_expired or otp_attempts_exceeded. */
  reason: string;
  /** > 0 when this refusal engaged the per-phone lock, for that long. */
  phoneLockedMs: number;
  /** The number's user, when the caller has read it already (undefined: none). */
  owner?: { user: User | undefined } | undefined;
}

/**
 * A code refused, for a registered phone only (a number without a user has no
 * trail): `user.login_failed` when it was a login code, and `user.locked_out` when
 * the refusal locked the phone (a wrong registration code, sent to a registered
 * number under ENUMERATION_PROTECTION, counts toward that lock too).
 */
export async function auditCodeRefused(deps: Deps, refused: CodeRefusal): Promise<void> {
  const types: AuditEventType[] = [];
  if (refused.purpose === "login") types.push("user.login_failed");
  if (refused.phoneLockedMs > 0) types.push("user.locked_out");
  if (types.length === 0) return;
  await appendAbout(deps, refused.phone, types, refused.owner, (user, at) => {
    if (user === undefined) return [];
    const events: StandaloneAuditEvent[] = [];
    if (refused.purpose === "login") {
      events.push({ type: "user.login_failed", at, userId: user.id, client: refused.client, details: { reason: refused.reason } });
    }
    if (refused.phoneLockedMs > 0) {
      // The service locked the phone, not anyone's request.
      const retryAfter = Math.ceil(refused.phoneLockedMs / 1000);
      events.push({ type: "user.locked_out", at, userId: user.id, actor: { kind: "system" }, client: refused.client, details: { retry_after: retryAfter } });
    }
    return events;
  });
}

/** Appends the events (of `types`) that `build` makes of the user who has `phone`,
 * if any (read unless `known`); a failure is logged, not thrown. */
async function appendAbout(
  deps: Deps,
  phone: string,
  types: readonly AuditEventType[],
  known: { user: User | undefined } | undefined,
  build: (user: User | undefined, at: Date) => StandaloneAuditEvent[],
): Promise<void> {
  try {
    const user = known === undefined ? await deps.users.findByPhone(phone) : known.user;
    const events = build(user, new Date(deps.clock.now()));
    for (const event of events) await deps.audit.append(event);
  } catch (error) {
    deps.log.warn({ err: String(error), types }, "audit event not recorded");
  }
}
