/**
 * Moves the Django system's users and SimpleJWT blacklist over (`identity
 * import-django`): reads them in batches, checks each row (checkDjangoUser), keeps
 * the first row of every phone and Django id, upserts each batch in one go, and
 * counts what happened. Running it again changes nothing. The flags of users who
 * were here already are the exception: they change through applyFlagChanges.
 */
import { updateUser } from "../admin/update-user.js";
import type { Clock } from "../clock.js";
import type { CoreDeps } from "../deps.js";
import type { PhonePolicy } from "../phone.js";
import type { DjangoSource, DjangoUserRow, FlagChange, LegacyImportTarget, LegacyUser } from "../ports/legacy-import.js";
import { checkDjangoUser, SkippedRow } from "./django-user.js";

/** How many skipped rows a report lists (all are counted). */
export const LISTED_SKIPS = 20;

export interface Skip {
  /** The row's id as the source holds it. */
  id: string;
  reason: string;
}

export interface ImportReport {
  /** User rows read from the source so far. */
  read: number;
  imported: number;
  updated: number;
  unchanged: number;
  skipped: number;
  /** The first LISTED_SKIPS skipped rows, in the source's id order. */
  skips: Skip[];
  /** Flags of users who were here already that differ on the Django system: for
   * applyFlagChanges (counted in `updated`). */
  flagChanges: FlagChange[];
  blacklist: {
    /** Recorded as spent now. */
    recorded: number;
    /** Recorded already (an earlier run, or exchanged here). */
    known: number;
    /** Expired, so not worth keeping: the token is refused anyway. */
    expired: number;
  };
}

export interface ImportDeps {
  source: DjangoSource;
  target: LegacyImportTarget;
  policy: PhonePolicy;
  clock: Clock;
}

export interface ImportOptions {
  batchSize: number;
  /** Told after every batch of users. */
  onProgress?: (report: ImportReport) => void;
}

export async function importFromDjango(deps: ImportDeps, options: ImportOptions): Promise<ImportReport> {
  const report: ImportReport = { read: 0, imported: 0, updated: 0, unchanged: 0, skipped: 0, skips: [], flagChanges: [], blacklist: { recorded: 0, known: 0, expired: 0 } };
  const skip = (id: unknown, reason: string) => {
    report.skipped += 1;
    if (report.skips.length < LISTED_SKIPS) report.skips.push({ id: String(id), reason });
  };
  const firstRows = firstRowsOfEach();
  for await (const rows of deps.source.users(options.batchSize)) {
    report.read += rows.length;
    const users: LegacyUser[] = [];
    for (const row of rows) {
      const user = checkedUser(row, deps.policy);
      const duplicate = typeof user === "string" ? undefined : firstRows.duplicateOf(user);
      if (typeof user === "string") skip(row.id, user);
      else if (duplicate !== undefined) skip(row.id, duplicate);
      else users.push(user);
    }
    const outcome = await deps.target.upsertUsers(users, new Date(deps.clock.now()));
    report.imported += outcome.imported;
    report.updated += outcome.updated;
    report.unchanged += outcome.unchanged;
    for (const conflict of outcome.conflicts) skip(conflict.legacyId, conflict.reason);
    report.flagChanges.push(...outcome.flagChanges);
    options.onProgress?.(report);
  }
  for await (const tokens of deps.source.blacklist(options.batchSize)) {
    const now = deps.clock.now();
    const live = tokens.filter((token) => token.expiresAt.getTime() > now);
    const recorded = await deps.target.recordBlacklisted(live);
    report.blacklist.recorded += recorded;
    report.blacklist.known += live.length - recorded;
    report.blacklist.expired += tokens.length - live.length;
  }
  return report;
}

/**
 * Deactivating or demoting someone who may hold sessions here is staff's
 * UpdateUser, made by the system (as `identity users disable` does): sessions end
 * at once on every running instance, and each change is its own admin.user_updated.
 */
export async function applyFlagChanges(deps: CoreDeps, changes: readonly FlagChange[]): Promise<void> {
  for (const { userId, ...flags } of changes) await updateUser(deps, { kind: "system" }, userId, flags, null);
}

/** The checked user, or why the row is skipped. */
function checkedUser(row: DjangoUserRow, policy: PhonePolicy): LegacyUser | string {
  try {
    return checkDjangoUser(row, policy);
  } catch (error) {
    if (error instanceof SkippedRow) return error.message;
    throw error;
  }
}

/**
 * Remembers the first user of every phone and Django id across the whole source, so
 * the rows after it are skipped rather than overwrite it. Keys are numbers (the
 * E.164 digits fit in a double): a million users cost tens of megabytes, not hundreds.
 */
function firstRowsOfEach() {
  const legacyIdOfPhone = new Map<number, number>();
  const legacyIds = new Set<number>();
  return {
    /** Why `user` is a duplicate of an earlier row, or undefined (then it is remembered). */
    duplicateOf(user: LegacyUser): string | undefined {
      const phone = Number(user.phone.slice(1));
      const first = legacyIdOfPhone.get(phone);
      if (first !== undefined) return `duplicate phone after normalization (${user.phone}, as id ${first})`;
      if (legacyIds.has(user.legacyId)) return "duplicate id";
      legacyIdOfPhone.set(phone, user.legacyId);
      legacyIds.add(user.legacyId);
      return undefined;
    },
  };
}
