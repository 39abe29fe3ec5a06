/** `identity migrate` (`npm run migrate`): applies pending schema migrations and exits. */
import { loadConfig } from "../config.js";
import { listMigrations, migrate } from "../store/postgres/migrate.js";
import type { Run } from "./commands.js";
import { withDatabase } from "./stores.js";

export const migrateCommand: Run = async () => {
  const config = loadConfig();
  const applied = await withDatabase(config, migrate, { migrated: false });
  if (applied.length === 0) return "schema is current: no migration to apply";
  const names = new Map((await listMigrations()).map((m) => [m.version, `${String(m.version).padStart(3, "0")}_${m.name}`]));
  return `applied ${applied.length} migration${applied.length === 1 ? "" : "s"}: ${applied.map((version) => names.get(version) ?? String(version)).join(", ")}`;
};
