/** The user a `users` command is about, named by its PHONE argument. */
import { loadConfig, type Config } from "../../config.js";
import type { CoreDeps } from "../../core/deps.js";
import { requestedPhone } from "../../core/phone.js";
import type { User } from "../../core/ports/users.js";
import type { ParsedArgs } from "../args.js";
import { CommandFailure } from "../errors.js";
import { withService } from "../stores.js";
import { checkTyped } from "../typed.js";

/** The PHONE argument in E.164, normalized as send-otp does (a bad one is a bad argument). */
function phoneArgument(config: Config, text: string): string {
  return checkTyped(() => requestedPhone(config, text), { phone: { label: "PHONE", text } });
}

/**
 * Runs `work` on the service's graph (see stores.ts) for the user whose phone is the
 * first argument. The phone is checked before any store is opened; an unknown one
 * is a failure (exit 1).
 */
export async function withUserOfPhone(args: ParsedArgs, work: (deps: CoreDeps, user: User) => Promise<string>): Promise<string> {
  const config = loadConfig();
  const phone = phoneArgument(config, args.positionals[0] ?? "");
  return withService(config, async (deps) => {
    const user = await deps.users.findByPhone(phone);
    if (user === undefined) throw new CommandFailure(`no user has the phone ${phone}`);
    return work(deps, user);
  });
}
