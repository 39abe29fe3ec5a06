import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { requestedPhone } from "../phone.js";
import { required } from "../required.js";
import { verifyOtp } from "../otp/verify.js";
import { newSession } from "../sessions/start.js";
import { issueTokenPair, tokenUser, type TokenPair } from "../tokens/issue.js";
import type { UserRecord } from "../../store/postgres/users.js";
import { cleanName } from "./names.js";

export interface SignedIn {
  user: UserRecord;
  tokens: TokenPair;
}

/** Creates the user of a phone (as typed) from a verified registration code, with a first session. */
export async function register(deps: CoreDeps, request: { phone: string; code: string; firstName: string; lastName: string }): Promise<SignedIn> {
  const input = { ...request, phone: requestedPhone(deps.config, request.phone), code: required(request.code, "code") };
  const firstName = cleanName(input.firstName, "first_name");
  const lastName = cleanName(input.lastName, "last_name");
  await verifyOtp(deps, input.phone, "register", input.code);
  const nowMs = deps.clock.now();
  const session = newSession(deps, nowMs);
  const user = await deps.sessions.register(
    { id: deps.random.uuid(), phone: input.phone, first_name: firstName, last_name: lastName },
    session,
    deps.config.tokens.updateLastLogin,
  );
  if (user === undefined) throw new AppError("phone_already_registered");
  const tokens = await issueTokenPair(deps, tokenUser(user), { id: session.id, expiresAtMs: session.expiresAt.getTime() },
    { jti: session.refreshJti, issuedAtMs: nowMs, expiresAtMs: session.refreshExpiresAt.getTime() }, nowMs);
  return { user, tokens };
}
