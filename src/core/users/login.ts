import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { requestedPhone } from "../phone.js";
import { required } from "../required.js";
import { verifyOtp } from "../otp/verify.js";
import { newSession } from "../sessions/start.js";
import { issueTokenPair, tokenUser } from "../tokens/issue.js";
import { announceProfileChange } from "./profile.js";
import type { SignedIn } from "./register.js";

/** Starts a session for a registered phone (as typed) with a verified login code. */
export async function login(deps: CoreDeps, request: { phone: string; code: string }): Promise<SignedIn> {
  const input = { phone: requestedPhone(deps.config, request.phone), code: required(request.code, "code") };
  await verifyOtp(deps, input.phone, "login", input.code);
  const nowMs = deps.clock.now();
  const session = newSession(deps, nowMs);
  const user = await deps.sessions.login(input.phone, session, deps.config.tokens.updateLastLogin);
  if (user === undefined) throw new AppError("phone_not_registered");
  // last_login moved: copies of the profile elsewhere are out of date. Best effort:
  // the session is committed and the code spent, so failing here would strand the
  // client; and while Redis cannot carry the announcement, no copy is trusted anyway.
  if (deps.config.tokens.updateLastLogin) {
    await announceProfileChange(deps, user.id).catch((error: unknown) => deps.log.warn({ err: String(error) }, "profile change not announced"));
  }
  const tokens = await issueTokenPair(deps, tokenUser(user), { id: session.id, expiresAtMs: session.expiresAt.getTime() },
    { jti: session.refreshJti, issuedAtMs: nowMs, expiresAtMs: session.refreshExpiresAt.getTime() }, nowMs);
  return { user, tokens };
}
