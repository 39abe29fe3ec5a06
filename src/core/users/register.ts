import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { requestedPhone } from "../phone.js";
import { required } from "../required.js";
import { verifyOtp } from "../otp/verify.js";
import type { RequestClient } from "../sessions/client.js";
import { startSession, type SignedIn } from "../sessions/start.js";
import { cleanName } from "./names.js";

/** Creates the user of a phone (as typed) from a verified registration code, with a first session. */
export async function register(deps: CoreDeps, request: { phone: string; code: string; firstName: string; lastName: string; client: RequestClient }): Promise<SignedIn> {
  const input = { ...request, phone: requestedPhone(deps.config, request.phone), code: required(request.code, "code") };
  const firstName = cleanName(input.firstName, "first_name");
  const lastName = cleanName(input.lastName, "last_name");
  await verifyOtp(deps, input.phone, "register", input.code, input.client);
  const signedIn = await startSession(deps, { kind: "new", phone: input.phone, firstName, lastName }, input.client);
  if (signedIn === undefined) throw new AppError("phone_already_registered");
  return signedIn;
}
