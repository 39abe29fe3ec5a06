import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { verifyOtp } from "../otp/verify.js";
import { startSession, type SignedIn } from "../sessions/start.js";

/** Starts a session for a registered phone with a verified login code. */
export async function login(deps: CoreDeps, input: { phone: string; code: string; clientIp: string }): Promise<SignedIn> {
  await verifyOtp(deps, input.phone, "login", input.code, input.clientIp);
  const signedIn = await startSession(deps, { kind: "existing", phone: input.phone });
  if (signedIn === undefined) throw new AppError("phone_not_registered");
  return signedIn;
}
