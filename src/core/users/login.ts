import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { requestedPhone } from "../phone.js";
import { required } from "../required.js";
import { verifyOtp } from "../otp/verify.js";
import type { RequestClient } from "../sessions/client.js";
import { startSession, type SignedIn } from "../sessions/start.js";

/** Starts a session for a registered phone (as typed) with a verified login code. */
export async function login(deps: CoreDeps, request: { phone: string; code: string; client: RequestClient }): Promise<SignedIn> {
  const phone = requestedPhone(deps.config, request.phone);
  await verifyOtp(deps, phone, "login", required(request.code, "code"), request.client);
  const signedIn = await startSession(deps, { kind: "existing", phone }, request.client);
  if (signedIn === undefined) throw new AppError("phone_not_registered");
  return signedIn;
}
