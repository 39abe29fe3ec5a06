/**
 * `identity users set-staff PHONE true|false`, `users disable PHONE` and
 * `users enable PHONE`: staff's UpdateUser, made by the system.
 */
import { updateUser } from "../../core/admin/update-user.js";
import type { UserFlagChanges } from "../../core/ports/users.js";
import type { ParsedArgs } from "../args.js";
import type { Run } from "../commands.js";
import { UsageError } from "../errors.js";
import { withUserOfPhone } from "./target.js";

/** Changes the flags of the user named by PHONE; `said` is the line for the result. */
function changeFlags(args: ParsedArgs, changes: UserFlagChanges, said: (phone: string) => string): Promise<string> {
  return withUserOfPhone(args, async (deps, user) => {
    await updateUser(deps, { kind: "system" }, user.id, changes, null);
    return said(user.phone);
  });
}

export const setStaffCommand: Run = async (args) => {
  const value = args.positionals[1];
  if (value !== "true" && value !== "false") throw new UsageError(`the second argument must be true or false, not "${value ?? ""}"`);
  const isStaff = value === "true";
  return changeFlags(args, { isStaff }, (phone) => (isStaff ? `${phone} is staff now` : `${phone} is no longer staff`));
};

export const disableCommand: Run = (args) => changeFlags(args, { isActive: false }, (phone) => `disabled ${phone}: every session ended, logins refused`);

export const enableCommand: Run = (args) => changeFlags(args, { isActive: true }, (phone) => `enabled ${phone}: may log in again`);
