import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { TokenPair } from "../tokens/issue.js";
import { requiredUserId } from "../users/id.js";
import { UNKNOWN_CLIENT } from "./client.js";
import { startSession } from "./start.js";

/**
 * Starts a session for a user the caller has already authenticated some other way
 * (SimpleJWT's `RefreshToken.for_user`): for backends that embed this service.
 */
export async function startSessionForUser(deps: CoreDeps, userId: string): Promise<TokenPair> {
  requiredUserId(userId, "id");
  const existing = await deps.users.findById(userId);
  if (existing === undefined || !existing.isActive) throw new AppError("phone_not_registered", "no active user with that id");
  const signedIn = await startSession(deps, { kind: "existing", phone: existing.phone }, UNKNOWN_CLIENT);
  if (signedIn === undefined) throw new AppError("phone_not_registered", "no active user with that id");
  return signedIn.tokens;
}
