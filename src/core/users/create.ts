/**
 * A user made by an operator rather than by signing up: no code, no session, and
 * the only way to make someone staff from nothing (the first staff user).
 */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { Actor } from "../ports/audit.js";
import type { User } from "../ports/users.js";
import { requestedPhone, type PhonePolicy } from "../phone.js";
import { cleanName } from "./names.js";

/** A user to create, as checkNewUser leaves it: the phone in E.164, the names cleaned. */
export interface NewUserInput {
  phone: string;
  firstName: string;
  lastName: string;
  isStaff: boolean;
}

/**
 * Checks what an operator typed, before any store is touched: the phone as send-otp
 * takes it (`invalid_phone`), the names as registration takes them (`validation_error`).
 */
export function checkNewUser(policy: PhonePolicy, input: NewUserInput): NewUserInput {
  return {
    phone: requestedPhone(policy, input.phone),
    firstName: cleanName(input.firstName, "first_name"),
    lastName: cleanName(input.lastName, "last_name"),
    isStaff: input.isStaff,
  };
}

/**
 * Creates a checked user (checkNewUser) and records `user.registered` by `actor`
 * with it; `via` names the tool in the event. `phone_already_registered` when the
 * phone is taken (nothing changes).
 */
export async function createUser(deps: Pick<CoreDeps, "users" | "clock" | "random">, user: NewUserInput, origin: { actor: Actor; via: string }): Promise<User> {
  const created = await deps.users.create({ id: deps.random.uuid(), ...user }, new Date(deps.clock.now()), {
    type: "user.registered",
    actor: origin.actor,
    client: null,
    details: { via: origin.via, is_staff: user.isStaff },
  });
  if (created === undefined) throw new AppError("phone_already_registered");
  return created;
}
