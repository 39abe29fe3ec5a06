import { AppError } from "../errors.js";

/** User ids are UUIDs (any case: one value however written, as in PostgreSQL). */
const USER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A user id from outside, checked before it reaches a store (PostgreSQL would refuse
 * anything else with an error), in lower case as stores and tokens spell it (cache
 * keys are made of it); throws `validation_error` naming `field`. */
export function requiredUserId(value: string, field: string): string {
  // typeof: embedding JavaScript callers are not held to the type.
  if (typeof value !== "string" || !USER_ID.test(value)) throw new AppError("validation_error", `${field} must be a UUID`, { field });
  return value.toLowerCase();
}
