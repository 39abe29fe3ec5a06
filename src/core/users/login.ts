import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { requestedPhone } from "../phone.js";
import { required } from "../required.js";
import { verifyOtp } from "../otp/verify.js";
import type { RequestClient } from "../sessions/client.js";
import { startSession, type SignedIn } from "../sessions/start.js";

/**
 * Starts a session for a registered phone (as typed) with a verified login code. A
 * deactivated user is refused before the code is checked (it stays live for when
 * they are active again), except under ENUMERATION_PROTECTION, where only whoever
 * verified the code is told anything about the number.
 */
export async function login(deps: CoreDeps, request: { phone: string; code: string; client: RequestClient }): Promise<SignedIn> {
  const phone = requestedPhone(deps.config, request.phone);
  const code = required(request.code, "code");
  const notDisabled = deps.config.otp.enumerationProtection
    ? undefined
    : async () => {
        const user = await deps.users.findByPhone(phone);
        if (user?.isActive === false) throw new AppError("account_disabled");
        return { user };
      };
  await verifyOtp(deps, phone, "login", code, request.client, notDisabled);
  const signedIn = await startSession(deps, { kind: "existing", phone }, request.client);
  // No active user has the phone: never registered, or deactivated (perhaps meanwhile).
  if (signedIn === undefined) throw new AppError((await deps.users.findByPhone(phone)) === undefined ? "phone_not_registered" : "account_disabled");
  return signedIn;
}
