/**
 * Sending a one-time code: refuse early what the purpose cannot use, count the
 * send against every limit (a failed SMS counts too: SMS pumping costs money either
 * way), store only the code's digest, and leave no usable code if the SMS fails.
 */
import type { Locale } from "../../config.js";
import { AppError, UnavailableError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { codeDigest } from "./digest.js";
import { requestedPhone } from "../phone.js";
import { assertNotLockedOut } from "./failures.js";
import { otpKeys } from "./keys.js";
import { requestedPurpose } from "./purpose.js";

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
  clientIp: string;
  /** The request's language: the SMS is worded in it. */
  locale: Locale;
}

export async function sendOtp(deps: CoreDeps, request: SendOtpRequest): Promise<SendOtpResult> {
  const { otp } = deps.config;
  const phone = requestedPhone(deps.config, request.phone);
  const purpose = requestedPurpose(request.purpose);
  // The client's budget is spent first, so probing which numbers are registered
  // costs it as much as sending does.
  const ipSends = await deps.kv.hit(otpKeys.ipSends(request.clientIp), HOUR_MS);
  if (ipSends.count > otp.maxPerIpPerHour) throw rateLimited(ipSends.resetMs);
  // Under ENUMERATION_PROTECTION every number gets a code alike; register and login
  // say "already registered" / "not registered" only to whoever verified that code.
  if (!otp.enumerationProtection) {
    const registered = (await deps.users.findByPhone(phone)) !== undefined;
    if (purpose === "register" && registered) throw new AppError("phone_already_registered");
    if (purpose === "login" && !registered) throw new AppError("phone_not_registered");
  }
  await assertNotLockedOut(deps, phone);

  if (otp.resendIntervalMs > 0) {
    const resend = await deps.kv.setIfAbsent(otpKeys.resend(phone, purpose), "1", otp.resendIntervalMs);
    if (!resend.set) throw rateLimited(resend.ttlMs);
  }
  const phoneSends = await deps.kv.hit(otpKeys.phoneSends(phone), HOUR_MS);
  if (phoneSends.count > otp.maxPerPhonePerHour) throw rateLimited(phoneSends.resetMs);

  const code = deps.random.code(otp.length);
  const codeKey = otpKeys.code(phone, purpose);
  await deps.kv.putCode(codeKey, codeDigest(deps.otpKey, phone, purpose, code), otp.ttlMs);
  try {
    await deps.sms.sendCode({ to: phone, code, purpose, locale: request.locale });
  } catch (error) {
    await deps.kv.del(codeKey).catch(() => {});
    if (error instanceof UnavailableError) {
      deps.log.error({ err: error.message, provider: deps.sms.name }, "SMS provider failed");
      throw new AppError("sms_unavailable", undefined, { cause: error });
    }
    throw error;
  }
  return { expiresInSeconds: Math.ceil(otp.ttlMs / 1000), resendAfterSeconds: Math.ceil(otp.resendIntervalMs / 1000), codeLength: otp.length };
}

function rateLimited(retryAfterMs: number): AppError {
  return new AppError("rate_limited", undefined, { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) });
}
