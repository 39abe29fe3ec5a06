/** `identity users create --phone PHONE [--first-name NAME] [--last-name NAME] [--staff]`. */
import { loadConfig } from "../../config.js";
import { systemClock } from "../../core/clock.js";
import { AppError } from "../../core/errors.js";
import { cryptoRandom } from "../../core/random.js";
import { checkNewUser, createUser } from "../../core/users/create.js";
import { createUserRepository } from "../../store/postgres/users.js";
import type { Run } from "../commands.js";
import { CommandFailure } from "../errors.js";
import { withDatabase } from "../stores.js";
import { checkTyped } from "../typed.js";

export const createCommand: Run = async (args) => {
  const config = loadConfig();
  const typed = { phone: args.string("phone") ?? "", firstName: args.string("first-name") ?? "", lastName: args.string("last-name") ?? "" };
  const input = checkTyped(() => checkNewUser(config, { ...typed, isStaff: args.flag("staff") }), {
    phone: { label: "--phone", text: typed.phone },
    first_name: { label: "--first-name", text: typed.firstName },
    last_name: { label: "--last-name", text: typed.lastName },
  });
  // A new user is in no cache and no instance holds a copy of them: the database alone will do.
  const user = await withDatabase(config, async (db) => {
    try {
      return await createUser({ users: createUserRepository(db), clock: systemClock, random: cryptoRandom }, input, { actor: { kind: "system" }, via: "cli" });
    } catch (error) {
      if (error instanceof AppError && error.reason === "phone_already_registered") throw new CommandFailure(`${input.phone} is already registered`);
      throw error;
    }
  });
  return `created ${user.isStaff ? "staff user" : "user"} ${user.id} with phone ${user.phone}`;
};
