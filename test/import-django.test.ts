/**
 * `identity import-django` against the real thing: a schema Django's own migrations
 * made, users created through Django, a refresh token blacklisted through
 * SimpleJWT; the command run as a process, as operators run it. Counts and rows,
 * the skipped rows and why, a second run that changes nothing, a changed Django
 * row, --dry-run, --table, a source that cannot be read, the events with actor
 * system, and imported users logging in over gRPC afterwards.
 */
import { Code } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { identity, refused, type Ran } from "./support/cli.js";
import { djangoSuitesRun, freshDjangoDatabase, type DjangoSystem, type DjangoTokens } from "./support/django.js";
import { failure, freshStores, loginUser, OtpPurpose, registerUser, startService, type Stores } from "./support/grpc-harness.js";
import { freshPhone, type Phone } from "./support/phones.js";
import { realStoresAvailable } from "./support/services.js";

const SUMMARY = /^(dry run, nothing written: )?(\d+) users read from (\S+): imported (\d+) \/ updated (\d+) \/ unchanged (\d+) \/ skipped (\d+); blacklisted refresh tokens: (\d+) recorded, (\d+) already recorded, (\d+) expired \(not kept\)$/;

interface Report {
  dryRun: boolean;
  read: number;
  table: string;
  imported: number;
  updated: number;
  unchanged: number;
  skipped: number;
  blacklist: { recorded: number; known: number; expired: number };
  /** The listed skipped rows, `id N: reason`. */
  skips: string[];
}

/** The report of a run that succeeded: exit 0, the summary line, the skipped rows listed. */
function reported(ran: Ran): Report {
  expect({ status: ran.status, stderr: ran.stderr }).toEqual({ status: 0, stderr: "" });
  const [summary = "", ...rest] = ran.stdout.trimEnd().split("\n");
  const match = SUMMARY.exec(summary);
  expect(match, summary).not.toBeNull();
  const n = (i: number) => Number(match![i]);
  const skips = rest.slice(1).map((line) => line.trim());
  if (n(7) > 0) expect(rest[0]).toMatch(/^skipped rows \(/);
  return {
    dryRun: match![1] !== undefined,
    read: n(2),
    table: match![3]!,
    imported: n(4),
    updated: n(5),
    unchanged: n(6),
    skipped: n(7),
    blacklist: { recorded: n(8), known: n(9), expired: n(10) },
    skips,
  };
}

const persian = (digits: string) => digits.replace(/\d/g, (d) => String.fromCharCode(0x06f0 + Number(d)));

interface ImportedRow {
  phone: string;
  legacy_id: string;
  first_name: string;
  last_name: string;
  is_staff: boolean;
  is_active: boolean;
  date_joined: Date;
  last_login: Date | null;
}

describe.runIf(realStoresAvailable() && djangoSuitesRun)("identity import-django from a Django-made database", () => {
  let django: DjangoSystem;
  let source: pg.Client;
  let stores: Stores;
  let target: pg.Client;
  let env: Record<string, string>;
  // The Django users, by what the test does with them.
  const staff = freshPhone();
  const disabled = freshPhone();
  const tenDigits = freshPhone();
  const plain = freshPhone();
  const registeredHere = freshPhone();
  const ids: Record<string, number> = {};
  let loggedOut: DjangoTokens;
  let stillIn: DjangoTokens;
  let expiredOut: DjangoTokens;

  const importDjango = (...args: string[]) => identity(env, "import-django", "--source-url", django.url, ...args);

  async function counts(): Promise<{ users: number; events: number; spent: number }> {
    const { rows } = await target.query(`SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM audit_events) AS events,
                                                (SELECT count(*)::int FROM legacy_spent_tokens) AS spent`);
    return rows[0];
  }

  async function imported(phone: Phone): Promise<ImportedRow | undefined> {
    const { rows } = await target.query<ImportedRow>(
      `SELECT phone, legacy_id::text, first_name, last_name, is_staff, is_active, date_joined, last_login FROM users WHERE phone = $1`,
      [phone.e164],
    );
    return rows[0];
  }

  beforeAll(async () => {
    [django, stores] = await Promise.all([freshDjangoDatabase(), freshStores("real")]);
    env = stores.env;
    source = new pg.Client({ connectionString: django.url });
    target = new pg.Client({ connectionString: stores.env.DATABASE_URL });
    await Promise.all([source.connect(), target.connect()]);
    // Registered here before the import, and on the Django system too, earlier.
    const service = await startService(stores);
    await registerUser(service, registeredHere.e164, { firstName: "Here", lastName: "First" });
    await service.stop();
    const [staffId, disabledId, tenDigitsId, duplicateId, shortId, landlineId, badNameId, plainId, bothId] = await django.users([
      { phone: staff.local, first_name: " Sara ", last_name: "Ahmadi", is_staff: true, date_joined: "2019-03-04T05:06:07Z", last_login: "2024-02-03T04:05:06Z" },
      { phone: persian(disabled.local), first_name: "Reza", is_active: false, date_joined: "2020-01-01T00:00:00Z" },
      { phone: tenDigits.local.slice(1), first_name: "Mina", date_joined: "2021-06-07T08:09:10Z" },
      // staff's phone again, written without its 0: the same number once normalized.
      { phone: staff.local.slice(1), first_name: "Twin" },
      { phone: "0912345" },
      { phone: "02188776655" },
      { phone: freshPhone().local, first_name: "Bell\u0007" },
      { phone: plain.local, first_name: "Ali", last_name: "Karimi", date_joined: "2022-02-02T02:02:02Z", last_login: "2023-03-03T03:03:03Z" },
      { phone: registeredHere.local, first_name: "Django", last_name: "Name", date_joined: "2018-08-08T08:08:08Z" },
    ]);
    Object.assign(ids, { staffId, disabledId, tenDigitsId, duplicateId, shortId, landlineId, badNameId, plainId, bothId });
    [loggedOut, stillIn, expiredOut] = await Promise.all([django.refreshToken(staffId!), django.refreshToken(staffId!), django.refreshToken(plainId!)]);
    await django.blacklist(loggedOut.refresh);
    await django.blacklist(expiredOut.refresh);
    // A logout long ago: its token has expired since.
    await source.query(`UPDATE token_blacklist_outstandingtoken SET expires_at = now() - interval '1 day' WHERE jti = $1`, [expiredOut.jti]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([source?.end(), target?.end()]);
    await Promise.all([django?.drop(), stores?.drop()]);
  });

  const expectedSkips = () => [
    `id ${ids.duplicateId}: duplicate phone after normalization (${staff.e164}, as id ${ids.staffId})`,
    `id ${ids.shortId}: unparseable phone "0912345"`,
    `id ${ids.landlineId}: unparseable phone "02188776655"`,
    `id ${ids.badNameId}: first_name contains invisible or control characters`,
  ];

  it("with --dry-run reports what it would do and writes nothing", async () => {
    const before = await counts();
    const report = reported(await importDjango("--dry-run"));
    expect(report).toEqual({
      dryRun: true,
      read: 9,
      table: "accounts_user",
      imported: 4,
      updated: 1,
      unchanged: 0,
      skipped: 4,
      blacklist: { recorded: 1, known: 0, expired: 1 },
      skips: expectedSkips(),
    });
    expect(await counts()).toEqual(before);
    expect(before).toEqual({ users: 1, events: expect.any(Number), spent: 0 });
  });

  it("imports the users with their Django id, names, flags and dates, skipping and listing the rows it cannot import", async () => {
    const report = reported(await importDjango());
    expect(report).toEqual({
      dryRun: false,
      read: 9,
      table: "accounts_user",
      imported: 4,
      updated: 1,
      unchanged: 0,
      skipped: 4,
      blacklist: { recorded: 1, known: 0, expired: 1 },
      skips: expectedSkips(),
    });
    expect(await imported(staff)).toEqual({
      phone: staff.e164,
      legacy_id: String(ids.staffId),
      first_name: "Sara",
      last_name: "Ahmadi",
      is_staff: true,
      is_active: true,
      date_joined: new Date("2019-03-04T05:06:07Z"),
      last_login: new Date("2024-02-03T04:05:06Z"),
    });
    expect(await imported(disabled)).toMatchObject({ legacy_id: String(ids.disabledId), first_name: "Reza", is_staff: false, is_active: false, last_login: null });
    expect(await imported(tenDigits)).toMatchObject({ legacy_id: String(ids.tenDigitsId), first_name: "Mina", date_joined: new Date("2021-06-07T08:09:10Z") });
    expect(await imported(plain)).toMatchObject({ legacy_id: String(ids.plainId), first_name: "Ali", last_name: "Karimi" });
    // The user registered here keeps their row and names the Django id; the earlier date_joined is theirs.
    expect(await imported(registeredHere)).toMatchObject({
      legacy_id: String(ids.bothId),
      first_name: "Django",
      last_name: "Name",
      date_joined: new Date("2018-08-08T08:08:08Z"),
    });
    expect(await counts()).toMatchObject({ users: 5, spent: 1 });
  });

  it("records each new user as user.registered and each changed one as admin.user_updated, by the actor system", async () => {
    const { rows } = await target.query<{ phone: string; type: string; actor: string; session_id: string | null; details: Record<string, unknown> }>(
      `SELECT u.phone, e.type, e.actor, e.session_id, e.details FROM audit_events e JOIN users u ON u.id = e.user_id
       WHERE e.actor = 'system' ORDER BY e.id`,
    );
    expect(rows).toEqual(
      expect.arrayContaining([
        { phone: staff.e164, type: "user.registered", actor: "system", session_id: null, details: { source: "django", legacy_id: ids.staffId } },
        { phone: disabled.e164, type: "user.registered", actor: "system", session_id: null, details: { source: "django", legacy_id: ids.disabledId } },
        { phone: tenDigits.e164, type: "user.registered", actor: "system", session_id: null, details: { source: "django", legacy_id: ids.tenDigitsId } },
        { phone: plain.e164, type: "user.registered", actor: "system", session_id: null, details: { source: "django", legacy_id: ids.plainId } },
        {
          phone: registeredHere.e164,
          type: "admin.user_updated",
          actor: "system",
          session_id: null,
          details: { source: "django", legacy_id: ids.bothId, fields: ["legacy_id", "first_name", "last_name", "date_joined"] },
        },
      ]),
    );
    expect(rows).toHaveLength(5);
  });

  it("imports SimpleJWT's blacklisted, unexpired refresh tokens as spent, with their expiry", async () => {
    const { rows } = await target.query(`SELECT jti, reason, expires_at FROM legacy_spent_tokens ORDER BY jti`);
    const { rows: outstanding } = await source.query<{ expires_at: Date }>(`SELECT expires_at FROM token_blacklist_outstandingtoken WHERE jti = $1`, [loggedOut.jti]);
    expect(rows).toEqual([{ jti: loggedOut.jti, reason: "blacklisted", expires_at: outstanding[0]!.expires_at }]);
    expect(rows.map((r) => r.jti)).not.toContain(stillIn.jti);
  });

  it("changes nothing when run again", async () => {
    const before = await counts();
    const report = reported(await importDjango());
    expect(report).toMatchObject({ imported: 0, updated: 0, unchanged: 5, skipped: 4, blacklist: { recorded: 0, known: 1, expired: 1 } });
    expect(await counts()).toEqual(before);
  });

  it("updates a user whose Django row changed, and records what changed", async () => {
    await source.query(`UPDATE accounts_user SET last_name = 'Rahimi', is_staff = true, last_login = '2025-01-01T00:00:00Z' WHERE id = $1`, [ids.plainId]);
    const report = reported(await importDjango());
    expect(report).toMatchObject({ imported: 0, updated: 1, unchanged: 4, skipped: 4 });
    expect(await imported(plain)).toMatchObject({ last_name: "Rahimi", is_staff: true, last_login: new Date("2025-01-01T00:00:00Z") });
    const { rows } = await target.query(`SELECT e.type, e.actor, e.details FROM audit_events e JOIN users u ON u.id = e.user_id WHERE u.phone = $1 ORDER BY e.id DESC LIMIT 1`, [plain.e164]);
    // The flags change as `identity users set-staff` changes them, in an event of their own.
    expect(rows).toEqual([{ type: "admin.user_updated", actor: "system", details: { is_staff: true } }]);
    const { rows: both } = await target.query(`SELECT e.details FROM audit_events e JOIN users u ON u.id = e.user_id WHERE u.phone = $1 ORDER BY e.id DESC LIMIT 2`, [plain.e164]);
    expect(both[1]).toEqual({ details: { source: "django", legacy_id: ids.plainId, fields: ["last_name", "last_login"] } });
    expect(reported(await importDjango())).toMatchObject({ imported: 0, updated: 0, unchanged: 5 });
  });

  it("reads another user table with --table, normalizing +98, 0098 and spaced phones, and refuses rows that clash with imported users", async () => {
    const [spaced, plus, doubleZero] = [freshPhone(), freshPhone(), freshPhone()];
    await source.query(`CREATE TABLE legacy_users (LIKE accounts_user INCLUDING DEFAULTS); ALTER TABLE legacy_users ALTER COLUMN phone TYPE varchar(32)`);
    await source.query(
      `INSERT INTO legacy_users (id, password, is_superuser, phone, first_name, last_name, is_staff, is_active, date_joined)
       SELECT id, '', false, phone, 'Old', '', false, true, '2017-01-01T00:00:00Z'
       FROM unnest($1::int[], $2::text[]) AS t(id, phone)`,
      [
        [5001, 5002, 5003, 5004, ids.tenDigitsId],
        [
          ` ${spaced.local.slice(0, 4)} ${spaced.local.slice(4, 7)} ${spaced.local.slice(7)} `,
          plus.e164,
          `00${doubleZero.e164.slice(1)}`,
          // Imported from accounts_user under another id.
          staff.e164,
          // An id imported from accounts_user, here with another phone.
          freshPhone().e164,
        ],
      ],
    );
    const report = reported(await importDjango("--table", "legacy_users"));
    expect(report).toEqual({
      dryRun: false,
      read: 5,
      table: "legacy_users",
      imported: 3,
      updated: 0,
      unchanged: 0,
      skipped: 2,
      blacklist: { recorded: 0, known: 1, expired: 1 },
      skips: [`id ${ids.tenDigitsId}: id already imported with another phone (${tenDigits.e164})`, `id 5004: phone taken by a different legacy id (${ids.staffId})`],
    });
    for (const [phone, id] of [
      [spaced, "5001"],
      [plus, "5002"],
      [doubleZero, "5003"],
    ] as const) {
      expect(await imported(phone)).toMatchObject({ legacy_id: id, first_name: "Old" });
    }
    expect(await imported(staff)).toMatchObject({ legacy_id: String(ids.staffId), first_name: "Sara" });
  });

  it("lets imported users log in with a code over gRPC, as they are (staff, names), and refuses the inactive one", async () => {
    const service = await startService(stores);
    try {
      const { user } = await loginUser(service, staff.e164);
      expect(user).toMatchObject({ phone: staff.e164, firstName: "Sara", lastName: "Ahmadi", isStaff: true });
      const { rows } = await target.query<{ id: string }>(`SELECT id FROM users WHERE phone = $1`, [staff.e164]);
      expect(user.id).toBe(rows[0]!.id);
      expect((await loginUser(service, tenDigits.e164)).user).toMatchObject({ firstName: "Mina", isStaff: false });
      expect(await failure(service.auth.sendOtp({ phone: disabled.e164, purpose: OtpPurpose.LOGIN }))).toMatchObject({ code: Code.PermissionDenied, reason: "account_disabled" });
    } finally {
      await service.stop();
    }
  });

  it("ends at once the sessions of someone who moved over and was deactivated on the Django system since, as identity users disable does", async () => {
    const service = await startService(stores);
    try {
      // Not verified first: a Verify would hold the session in the service's process for
      // a moment (local copies), which the announcement drops only asynchronously.
      const { user, tokens } = await loginUser(service, tenDigits.e164);
      await source.query(`UPDATE accounts_user SET is_active = false WHERE id = $1`, [ids.tenDigitsId]);
      expect(reported(await importDjango())).toMatchObject({ imported: 0, updated: 1, skipped: 4 });
      expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "session_revoked" });
      expect(await failure(service.token.refresh({ refresh: tokens.refresh }))).toMatchObject({ reason: "session_revoked" });
      expect(await failure(service.auth.sendOtp({ phone: tenDigits.e164, purpose: OtpPurpose.LOGIN }))).toMatchObject({ reason: "account_disabled" });
      const { rows } = await target.query(`SELECT type, actor, details FROM audit_events WHERE user_id = $1 ORDER BY id DESC LIMIT 1`, [user.id]);
      expect(rows).toEqual([{ type: "admin.user_updated", actor: "system", details: { is_active: false } }]);
      expect(reported(await importDjango())).toMatchObject({ updated: 0, unchanged: 5 });
    } finally {
      await service.stop();
    }
  });

  it("refuses a source it cannot reach, without the table, or not shaped like Django's, with one line and exit 1, writing nothing", async () => {
    const before = await counts();
    const unreachable = new URL(django.url);
    unreachable.port = "1";
    const [down, missing, notUsers] = await Promise.all([
      identity(env, "import-django", "--source-url", unreachable.toString()),
      importDjango("--table", "customers"),
      importDjango("--table", "django_migrations"),
    ]);
    expect(refused(down, 1)).toMatch(/^identity import-django: cannot reach the source database 127\.0\.0\.1:1\/\w+ \(connection_refused: .*ECONNREFUSED/);
    expect(refused(missing, 1)).toMatch(/^identity import-django: the source database 127\.0\.0\.1:5432\/\w+ has no table "customers"$/);
    expect(refused(notUsers, 1)).toBe(`identity import-django: the source table "django_migrations" is not a Django user table: column "phone" does not exist`);
    expect(await counts()).toEqual(before);
  });

  it("refuses bad arguments with exit 2, and explains itself with --help", async () => {
    const [noUrl, badUrl, badTable, help] = await Promise.all([
      identity(env, "import-django"),
      identity(env, "import-django", "--source-url", "mysql://x/y"),
      importDjango("--table", "users; DROP TABLE users"),
      identity(env, "import-django", "--help"),
    ]);
    expect(refused(noUrl, 2)).toBe("identity import-django: missing --source-url (see identity import-django --help)");
    expect(refused(badUrl, 2)).toBe("identity import-django: --source-url must be a postgres:// URL (see identity import-django --help)");
    expect(refused(badTable, 2)).toMatch(/^identity import-django: --table "users; DROP TABLE users" is not a table name/);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: identity import-django --source-url postgres:\/\/\.\.\. \[--table accounts_user\] \[--dry-run\]/);
  });

  it("imports into the embedded database of DATA_DIR as well", async () => {
    const embedded = await freshStores("embedded");
    try {
      const report = reported(await identity(embedded.env, "import-django", "--source-url", django.url, "--dry-run"));
      expect(report).toMatchObject({ dryRun: true, imported: 5, updated: 0, skipped: 4, blacklist: { recorded: 1 } });
      expect(reported(await identity(embedded.env, "import-django", "--source-url", django.url))).toMatchObject({ dryRun: false, imported: 5, skipped: 4 });
      expect(reported(await identity(embedded.env, "import-django", "--source-url", django.url))).toMatchObject({ imported: 0, unchanged: 5, skipped: 4 });
    } finally {
      await embedded.drop();
    }
    // Three processes, each opening the embedded database (seconds apiece on a busy machine).
  }, 120_000);
});
