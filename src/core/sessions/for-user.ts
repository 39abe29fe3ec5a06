import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { TokenPair } from "../tokens/issue.js";
import { UNKNOWN_CLIENT } from "./client.js";
import { startSession } from "./start.js";

/** User ids are UUIDs; anything else is refused before it reaches the database. */
const USER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Starts a session for a user the caller has already authenticated some other way
 * (SimpleJWT's `RefreshToken.for_user`): for backends that embed this service.
 */
export async function startSessionForUser(deps: CoreDeps, userId: string): Promise<TokenPair> {
  // typeof: embedding JavaScript callers are not held to the type.
  if (typeof userId !== "string" || !USER_ID.test(userId)) throw new AppError("validation_error", "user id must be a UUID", { field: "id" });
  const existing = await deps.users.findById(userId);
  if (existing === undefined || !existing.isActive) throw new AppError("phone_not_registered", "no active user with that id");
  const signedIn = await startSession(deps, { kind: "existing", phone: existing.phone }, UNKNOWN_CLIENT);
  if (signedIn === undefined) throw new AppError("phone_not_registered", "no active user with that id");
  return signedIn.tokens;
}
