/**
 * `identity import-django --source-url URL [--table accounts_user] [--dry-run]`:
 * the Django system's users and SimpleJWT blacklist moved over (core/legacy/import.ts),
 * from its database (store/django/source.ts) into this service's
 * (store/postgres/legacy-import.ts). The source is checked before the target is
 * opened, so a source that cannot be read leaves nothing written. The active and
 * staff flags of users who were here already change last, as `identity users
 * disable` / `set-staff` change them.
 */
import { loadConfig } from "../config.js";
import { systemClock } from "../core/clock.js";
import { applyFlagChanges, importFromDjango, type ImportReport } from "../core/legacy/import.js";
import { DjangoSourceError, openDjangoSource, quotedTableName, type OpenDjangoSource } from "../store/django/source.js";
import { createLegacyImportTarget } from "../store/postgres/legacy-import.js";
import type { Run } from "./commands.js";
import { CommandFailure, UsageError } from "./errors.js";
import { withDatabase, withService } from "./stores.js";

/** Rows a statement upserts: large enough that round trips do not dominate, small
 * enough that a statement stays well inside the store's statement timeout. */
const BATCH_SIZE = 5000;
/** How often a long run says how far it got (stderr). */
const PROGRESS_EVERY_MS = 5000;

export const importDjangoCommand: Run = async (args) => {
  const sourceUrl = args.string("source-url") ?? "";
  if (!/^postgres(ql)?:\/\//.test(sourceUrl)) throw new UsageError("--source-url must be a postgres:// URL");
  const tableName = args.string("table") ?? "accounts_user";
  const table = quotedTableName(tableName);
  if (table === undefined) throw new UsageError(`--table "${tableName}" is not a table name (letters, digits, _; schema.table allowed)`);
  const dryRun = args.flag("dry-run");
  const config = loadConfig();
  const source = await sourceFailures(() => openDjangoSource(sourceUrl, table));
  try {
    const report = await withDatabase(config, (db) =>
      sourceFailures(() =>
        importFromDjango(
          { source, target: createLegacyImportTarget(db, { dryRun }), policy: config, clock: systemClock },
          { batchSize: BATCH_SIZE, onProgress: progressLine() },
        ),
      ),
    );
    // Rare (someone here already whom Django deactivated or demoted), and they must
    // reach running instances at once: through the service's own graph.
    if (!dryRun && report.flagChanges.length > 0) await withService(config, (deps) => applyFlagChanges(deps, report.flagChanges));
    return describe(report, tableName, dryRun);
  } finally {
    await source.close();
  }
};

async function sourceFailures<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DjangoSourceError) throw new CommandFailure(error.message);
    throw error;
  }
}

/** A progress line on stderr every PROGRESS_EVERY_MS, with the rate so far. */
function progressLine(): (report: ImportReport) => void {
  const started = performance.now();
  let said = started;
  return (report) => {
    const now = performance.now();
    if (now - said < PROGRESS_EVERY_MS) return;
    said = now;
    const rate = Math.round(report.read / ((now - started) / 1000));
    process.stderr.write(`import-django: ${report.read} rows read (${counts(report)}), ${rate} rows/s\n`);
  };
}

function counts(report: ImportReport): string {
  return `imported ${report.imported} / updated ${report.updated} / unchanged ${report.unchanged} / skipped ${report.skipped}`;
}

/** The counts first, then the skipped rows listed, one a line. */
function describe(report: ImportReport, table: string, dryRun: boolean): string {
  const { recorded, known, expired } = report.blacklist;
  const lines = [
    `${dryRun ? "dry run, nothing written: " : ""}${report.read} users read from ${table}: ${counts(report)}; ` +
      `blacklisted refresh tokens: ${recorded} recorded, ${known} already recorded, ${expired} expired (not kept)`,
  ];
  if (report.skipped > 0) {
    const listed = report.skips.length < report.skipped ? `the first ${report.skips.length} of ${report.skipped}` : `${report.skipped}`;
    lines.push(`skipped rows (${listed}):`, ...report.skips.map((skip) => `  id ${skip.id}: ${skip.reason}`));
  }
  return lines.join("\n");
}
