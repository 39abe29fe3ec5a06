/**
 * Sending a one-time code: refuse early what the purpose cannot use, count the
 * send against every limit (a failed SMS counts too: SMS pumping costs money either
 * way), store only the code's digest, and leave no usable code if the SMS fails.
 */
import type { Locale } from "../../config.js";
import { auditCodeSent } from "../audit/code-events.js";
import { AppError, UnavailableError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { codeDigest } from "./digest.js";
import { requestedPhone } from "../phone.js";
import { assertNotLockedOut } from "./failures.js";
import { otpKeys } from "./keys.js";
import { requestedPurpose } from "./purpose.js";
import type { RequestClient } from "../sessions/client.js";
import type { User } from "../ports/users.js";
import type { RateLimit } from "../ports/metrics.js";

const HOUR_MS = 3_600_000;

export interface SendOtpResult {
  expiresInSeconds: number;
  resendAfterSeconds: number;
  /** Digits in the code, so a client can check what is typed before sending it. */
  codeLength: number;
}

export interface SendOtpRequest {
  /** As the person typed it; normalized here under the configured region policy. */
  phone: string;
  /** `register` or `login`; anything else is refused. */
  purpose: string;
  /** Who asks: the client IP counts toward the limits; the audit trail records both. */
  client: RequestClient;
  /** The request's language: the SMS is worded in it. */
  locale: Locale;
}

export async function sendOtp(deps: CoreDeps, request: SendOtpRequest): Promise<SendOtpResult> {
  const { otp } = deps.config;
  const phone = requestedPhone(deps.config, request.phone);
  const purpose = requestedPurpose(request.purpose);
  const clientIp = request.client.ip;
  // A refused send-otp (any 4xx) counts toward no limit: every refusal below comes
  // before the counters, or undoes the one step it took (the resend interval).
  await assertNotLockedOut(deps, phone, clientIp);
  // Under ENUMERATION_PROTECTION every number gets a code alike; register and login
  // say "already registered" / "not registered" / "disabled" only to whoever verified
  // that code.
  // The number's user, when read here, is also whom the trail's `otp.sent` is about.
  let owner: { user: User | undefined } | undefined;
  if (!otp.enumerationProtection) {
    const user = await deps.users.findByPhone(phone);
    if (purpose === "register" && user !== undefined) throw new AppError("phone_already_registered");
    if (purpose === "login" && user === undefined) throw new AppError("phone_not_registered");
    if (purpose === "login" && user?.isActive === false) throw new AppError("account_disabled");
    owner = { user };
  }
  const [ipSent, phoneSent] = await Promise.all([deps.kv.peek(otpKeys.ipSends(clientIp)), deps.kv.peek(otpKeys.phoneSends(phone))]);
  if (ipSent.count >= otp.maxPerIpPerHour) throw rateLimited(deps, "otp_per_ip", ipSent.resetMs);
  if (phoneSent.count >= otp.maxPerPhonePerHour) throw rateLimited(deps, "otp_per_phone", phoneSent.resetMs);

  const resendKey = otpKeys.resend(phone, purpose);
  if (otp.resendIntervalMs > 0) {
    const resend = await deps.kv.setIfAbsent(resendKey, "1", otp.resendIntervalMs);
    if (!resend.set) throw rateLimited(deps, "otp_resend", resend.ttlMs);
  }
  // Counting is what holds the caps under parallel sends (the reads above only
  // spare sequential refusals): past a cap here, the send is refused after all.
  const [ipSends, phoneSends] = await Promise.all([deps.kv.hit(otpKeys.ipSends(clientIp), HOUR_MS), deps.kv.hit(otpKeys.phoneSends(phone), HOUR_MS)]);
  const over: [RateLimit, number] | undefined =
    ipSends.count > otp.maxPerIpPerHour ? ["otp_per_ip", ipSends.resetMs] : phoneSends.count > otp.maxPerPhonePerHour ? ["otp_per_phone", phoneSends.resetMs] : undefined;
  if (over !== undefined) {
    await deps.kv.del(resendKey).catch(() => {});
    throw rateLimited(deps, ...over);
  }

  const code = deps.random.code(otp.length);
  const codeKey = otpKeys.code(phone, purpose);
  await deps.kv.putCode(codeKey, codeDigest(deps.otpKey, phone, purpose, code), otp.ttlMs);
  let delivered: { provider: string };
  try {
    delivered = await deps.sms.sendCode({ to: phone, code, purpose, locale: request.locale });
  } catch (error) {
    await deps.kv.del(codeKey).catch(() => {});
    if (error instanceof UnavailableError) {
      deps.log.error({ err: error.message, provider: deps.sms.name }, "SMS provider failed");
      throw new AppError("sms_unavailable", undefined, { cause: error });
    }
    throw error;
  }
  await auditCodeSent(deps, { phone, purpose, provider: delivered.provider, client: request.client, owner });
  return { expiresInSeconds: Math.ceil(otp.ttlMs / 1000), resendAfterSeconds: Math.ceil(otp.resendIntervalMs / 1000), codeLength: otp.length };
}

/** The refusal of `limit`, counted as it is made. */
function rateLimited(deps: Pick<CoreDeps, "metrics">, limit: RateLimit, retryAfterMs: number): AppError {
  deps.metrics.rateLimited(limit);
  return new AppError("rate_limited", undefined, { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) });
}
