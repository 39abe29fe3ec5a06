/**
 * The `identity` command as operators run it: the real bin (bin/identity.mjs, what
 * `npx identity` runs) spawned with nothing but the service's environment, against
 * a fresh PostgreSQL database and Redis prefix shared with a running service, and
 * against an embedded DATA_DIR. Help and exit statuses (0 done, 2 a bad argument,
 * 1 a failure, each with one line), the work of every command, its audit event
 * with actor `system`, and its effect on a running instance at once.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../src/cli/commands.js";
import { identity, refused, ROOT, type Ran } from "./support/cli.js";
import { bearer, failure, freshStores, loginUser, OtpPurpose, registerUser, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { freshPhone } from "./support/phones.js";
import { freshDatabase, realStoresAvailable } from "./support/services.js";

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

/** Runs several command lines, a few at a time (each is a process of its own). */
async function identities(env: Record<string, string>, lines: readonly (readonly string[])[]): Promise<Ran[]> {
  const results: Ran[] = [];
  for (let i = 0; i < lines.length; i += 3) results.push(...(await Promise.all(lines.slice(i, i + 3).map((args) => identity(env, ...args)))));
  return results;
}

/** Exit 0 with one line on stdout (returned; the JSON of log lines aside) and nothing on stderr. */
function done(ran: Ran): string {
  expect({ status: ran.status, stderr: ran.stderr }).toEqual({ status: 0, stderr: "" });
  const lines = ran.stdout.trimEnd().split("\n").filter((line) => !line.startsWith("{"));
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

/** Everything a command could change, to compare before and after a refusal. */
async function state(sql: pg.Client): Promise<unknown> {
  const { rows } = await sql.query(`
    SELECT (SELECT md5(coalesce(string_agg(u::text, ',' ORDER BY id), '')) FROM users u) AS users,
           (SELECT md5(coalesce(string_agg(s::text, ',' ORDER BY id), '')) FROM sessions s) AS sessions,
           (SELECT count(*) FROM audit_events) AS events`);
  return rows[0];
}

interface AuditRow {
  type: string;
  user_id: string;
  session_id: string | null;
  actor: string;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
}

describe.runIf(realStoresAvailable())("the identity command on PostgreSQL and Redis, beside a running service", () => {
  let stores: Stores;
  let dataDir: string;
  let service: Service;
  let sql: pg.Client;
  let env: Record<string, string>;

  beforeAll(async () => {
    stores = await freshStores("real");
    // The service's DATA_DIR holds its development key; the command shares it, as a deployment shares JWT_SIGNING_KEY.
    dataDir = await mkdtemp(join(tmpdir(), "identity-cli-"));
    service = await startService(stores, { env: { DATA_DIR: dataDir } });
    env = { ...stores.env, DATA_DIR: dataDir };
    sql = new pg.Client({ connectionString: stores.env.DATABASE_URL });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.stop();
    await stores?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function eventsOf(userId: string): Promise<AuditRow[]> {
    const { rows } = await sql.query<AuditRow>("SELECT type, user_id, session_id, actor, ip, user_agent, details FROM audit_events WHERE user_id = $1 ORDER BY id", [userId]);
    return rows;
  }

  async function userRow(phone: string): Promise<{ id: string; is_staff: boolean; is_active: boolean; first_name: string; last_name: string } | undefined> {
    const { rows } = await sql.query("SELECT id, is_staff, is_active, first_name, last_name FROM users WHERE phone = $1", [phone]);
    return rows[0];
  }

  it("prints its usage for --help and -h, at the top, for users and for every command, with exit 0", async () => {
    const lines = [["--help"], ["-h"], ["users", "--help"], ...COMMANDS.map((command) => [...command.name.split(" "), "--help"]), ["users", "create", "-h", "--bogus"]];
    const [top, short, users, ...each] = await identities(env, lines);
    const topHelp = top!.stdout;
    expect(top!.status).toBe(0);
    expect(topHelp).toMatch(/^Usage: identity COMMAND/);
    for (const command of COMMANDS) expect(topHelp).toContain(command.synopsis);
    expect(topHelp).toContain("Exit status: 0");
    expect(short).toEqual(top);
    expect(users!.status).toBe(0);
    expect(users!.stdout).toMatch(/^Usage: identity users COMMAND/);
    expect(users!.stdout).toContain("users revoke-sessions PHONE");
    for (const [i, command] of COMMANDS.entries()) {
      expect(each[i]!.status).toBe(0);
      expect(each[i]!.stderr).toBe("");
      expect(each[i]!.stdout).toMatch(new RegExp(`^Usage: identity ${command.name}`));
      expect(each[i]!.stdout).toContain("-h, --help");
    }
    // Help wins over whatever else is on the line.
    expect(each.at(-1)!.stdout).toMatch(/^Usage: identity users create --phone PHONE/);
  }, 120_000);

  it("refuses every bad argument with exit 2 and one line naming it, changing nothing", async () => {
    const { phone } = await registerUser(service);
    const before = await state(sql);
    const cases: [string[], string][] = [
      [[], "identity: missing command (see identity --help)"],
      [["frobnicate"], 'identity: unknown command "frobnicate" (see identity --help)'],
      [["users"], "identity: missing users command (see identity users --help)"],
      [["users", "delete", phone], 'identity: unknown command "users delete" (see identity users --help)'],
      [["migrate", "now"], 'identity migrate: unexpected argument "now" (see identity migrate --help)'],
      [["migrate", "--force"], "identity migrate: unknown option --force (see identity migrate --help)"],
      [["flush-expired", "0"], 'identity flush-expired: BATCH_SIZE must be a whole number from 1 to 1000000, not "0" (see identity flush-expired --help)'],
      [["flush-expired", "5k"], 'identity flush-expired: BATCH_SIZE must be a whole number from 1 to 1000000, not "5k" (see identity flush-expired --help)'],
      [["flush-expired", "10", "20"], 'identity flush-expired: unexpected argument "20" (see identity flush-expired --help)'],
      [["users", "create"], "identity users create: missing --phone (see identity users create --help)"],
      [["users", "create", "--phone"], "identity users create: option --phone needs a value (see identity users create --help)"],
      [["users", "create", "--phone", "--staff"], "identity users create: option --phone needs a value (see identity users create --help)"],
      [["users", "create", "--phone", phone, "--phone", phone], "identity users create: option --phone is given twice (see identity users create --help)"],
      [["users", "create", "--phone", "0912"], 'identity users create: --phone "0912" is not a phone number we accept (see identity users create --help)'],
      [["users", "create", "--phone="], "identity users create: --phone is required (see identity users create --help)"],
      [["users", "create", "--phone", "021 8877 6655"], 'identity users create: --phone "021 8877 6655" is not a phone number we accept (not a mobile number) (see identity users create --help)'],
      [["users", "create", "--phone", freshPhone().local, "--staff=yes"], "identity users create: option --staff takes no value (see identity users create --help)"],
      [["users", "create", "--phone", freshPhone().local, "--first-name", "a\u202Eb"], "identity users create: --first-name contains invisible or control characters (see identity users create --help)"],
      [["users", "create", "--phone", freshPhone().local, "--last-name", "x".repeat(151)], "identity users create: --last-name must be at most 150 characters (see identity users create --help)"],
      [["users", "create", "--phone", freshPhone().local, "-s"], "identity users create: unknown option -s (see identity users create --help)"],
      [["users", "create", "--phone", freshPhone().local, "extra"], 'identity users create: unexpected argument "extra" (see identity users create --help)'],
      [["users", "set-staff", phone], "identity users set-staff: missing true or false (see identity users set-staff --help)"],
      [["users", "set-staff", phone, "yes"], 'identity users set-staff: the second argument must be true or false, not "yes" (see identity users set-staff --help)'],
      [["users", "set-staff", phone, "true", "now"], 'identity users set-staff: unexpected argument "now" (see identity users set-staff --help)'],
      [["users", "set-staff", "12345", "true"], 'identity users set-staff: PHONE "12345" is not a phone number we accept (see identity users set-staff --help)'],
      [["users", "disable"], "identity users disable: missing PHONE (see identity users disable --help)"],
      [["users", "disable", "not a phone"], 'identity users disable: PHONE "not a phone" is not a phone number we accept (see identity users disable --help)'],
      [["users", "enable", ""], "identity users enable: PHONE is required (see identity users enable --help)"],
      [["users", "enable", "+98", "912", "1234567"], 'identity users enable: unexpected argument "912" (see identity users enable --help)'],
      [["users", "revoke-sessions", phone, "--all"], "identity users revoke-sessions: unknown option --all (see identity users revoke-sessions --help)"],
    ];
    const results = await identities(env, cases.map(([args]) => args));
    for (const [i, [args, line]] of cases.entries()) expect({ args, line: refused(results[i]!, 2) }).toEqual({ args, line });
    expect(await state(sql)).toEqual(before);
  }, 180_000);

  it("migrate applies every migration to a new database, then finds the schema current; npm run migrate too", async () => {
    const database = await freshDatabase();
    try {
      const fresh = { DATABASE_URL: database.url };
      expect(done(await identity(fresh, "migrate"))).toMatch(/^applied \d+ migrations: 001_initial, 002_sessions_client_and_audit, /);
      expect(done(await identity(fresh, "migrate"))).toBe("schema is current: no migration to apply");
      const npm = await new Promise<Ran>((resolve) =>
        execFile("npm", ["run", "--silent", "migrate"], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...fresh }, timeout: 30_000 }, (error, stdout, stderr) =>
          resolve({ status: error === null ? 0 : Number(error.code), stdout, stderr }),
        ),
      );
      expect(done(npm)).toBe("schema is current: no migration to apply");
    } finally {
      await database.drop();
    }
  }, 60_000);

  it("flush-expired deletes expired rows and says how many", async () => {
    expect(done(await identity(env, "flush-expired", "100"))).toMatch(/^deleted \d+ expired sessions, \d+ expired refresh-token rows, \d+ expired spent Django tokens, \d+ audit events older than AUDIT_RETENTION and \d+ revocations past every access token's life \(\d+ batches of at most 100\)$/);
  }, 30_000);

  it("users create makes an active user without a session, staff with --staff, recorded as user.registered by system", async () => {
    const staff = freshPhone();
    const spelled = `${staff.local.slice(0, 4)} ${staff.local.slice(4, 7)} ${staff.local.slice(7)}`;
    const line = done(await identity(env, "users", "create", "--phone", spelled, "--first-name", "Sara", "--last-name", "Ahmadi", "--staff"));
    expect(line).toMatch(new RegExp(`^created staff user (${UUID}) with phone \\${staff.e164}$`));
    const row = await userRow(staff.e164);
    expect(row).toEqual({ id: line.split(" ")[3], is_staff: true, is_active: true, first_name: "Sara", last_name: "Ahmadi" });
    expect(await eventsOf(row!.id)).toEqual([
      { type: "user.registered", user_id: row!.id, session_id: null, actor: "system", ip: null, user_agent: null, details: { via: "cli", is_staff: true } },
    ]);
    expect((await sql.query("SELECT count(*)::int AS n FROM sessions WHERE user_id = $1", [row!.id])).rows[0]).toEqual({ n: 0 });

    // They log in with a code as anyone does, and their token says they are staff.
    const { user, tokens } = await loginUser(service, staff.e164);
    expect(user).toMatchObject({ id: row!.id, isStaff: true, firstName: "Sara", lastName: "Ahmadi" });
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true, user: { isStaff: true } });

    const plain = freshPhone();
    expect(done(await identity(env, "users", "create", "--phone", plain.e164))).toMatch(new RegExp(`^created user ${UUID} with phone \\${plain.e164}$`));
    expect(await userRow(plain.e164)).toMatchObject({ is_staff: false, is_active: true, first_name: "", last_name: "" });
    expect((await eventsOf((await userRow(plain.e164))!.id))[0]).toMatchObject({ actor: "system", details: { via: "cli", is_staff: false } });
  }, 60_000);

  it("users create refuses a phone already registered with exit 1, changing nothing", async () => {
    const { phone } = await registerUser(service);
    const before = await state(sql);
    expect(refused(await identity(env, "users", "create", "--phone", phone.replace("+98", "0"), "--staff"), 1)).toBe(`identity users create: ${phone} is already registered`);
    expect(await state(sql)).toEqual(before);
    expect(await userRow(phone)).toMatchObject({ is_staff: false });
  }, 30_000);

  it("users set-staff grants and takes staff, seen by the running service at once, each recorded by system", async () => {
    const { phone, user, tokens } = await registerUser(service);
    expect((await service.auth.getProfile({}, bearer(tokens.access))).user).toMatchObject({ isStaff: false });
    expect(done(await identity(env, "users", "set-staff", phone.replace("+98", "0"), "true"))).toBe(`${phone} is staff now`);
    expect(await userRow(phone)).toMatchObject({ is_staff: true, is_active: true });
    // The service held a copy of the profile: the change was announced to it.
    expect((await service.auth.getProfile({}, bearer(tokens.access))).user).toMatchObject({ isStaff: true });
    expect(done(await identity(env, "users", "set-staff", phone, "false"))).toBe(`${phone} is no longer staff`);
    expect(await userRow(phone)).toMatchObject({ is_staff: false });
    expect((await eventsOf(user.id)).filter((e) => e.type === "admin.user_updated")).toEqual([
      { type: "admin.user_updated", user_id: user.id, session_id: null, actor: "system", ip: null, user_agent: null, details: { is_staff: true } },
      { type: "admin.user_updated", user_id: user.id, session_id: null, actor: "system", ip: null, user_agent: null, details: { is_staff: false } },
    ]);
  }, 60_000);

  it("users disable ends every session on the running service at once and refuses logins; users enable lets them log in again", async () => {
    const { phone, user, tokens } = await registerUser(service);
    const second = await loginUser(service, phone);
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
    // A code sent before the change: it stays live, and login still refuses.
    await service.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN });
    const code = service.sms.codeFor(phone, "login");

    expect(done(await identity(env, "users", "disable", phone))).toBe(`disabled ${phone}: every session ended, logins refused`);
    expect(await userRow(phone)).toMatchObject({ is_active: false });
    for (const pair of [tokens, second.tokens]) {
      expect(await service.token.verify({ token: pair.access })).toMatchObject({ valid: false, reason: "session_revoked" });
      expect(await failure(service.token.refresh({ refresh: pair.refresh }))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    }
    expect(await failure(service.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN }))).toMatchObject({ code: Code.PermissionDenied, reason: "account_disabled" });
    expect(await failure(service.auth.login({ phone, code }))).toMatchObject({ code: Code.PermissionDenied, reason: "account_disabled" });

    expect(done(await identity(env, "users", "enable", phone))).toBe(`enabled ${phone}: may log in again`);
    expect(await userRow(phone)).toMatchObject({ is_active: true });
    const again = await loginUser(service, phone);
    expect(await service.token.verify({ token: again.tokens.access })).toMatchObject({ valid: true });
    // The sessions that ended stay ended.
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: false });

    expect((await eventsOf(user.id)).filter((e) => e.type === "admin.user_updated").map((e) => ({ actor: e.actor, details: e.details }))).toEqual([
      { actor: "system", details: { is_active: false } },
      { actor: "system", details: { is_active: true } },
    ]);
  }, 60_000);

  it("users revoke-sessions ends every session on the running service at once, recorded as admin.sessions_revoked by system", async () => {
    const { phone, user, tokens } = await registerUser(service);
    const second = await loginUser(service, phone);
    expect(done(await identity(env, "users", "revoke-sessions", phone))).toBe(`ended 2 sessions of ${phone}`);
    for (const pair of [tokens, second.tokens]) expect(await service.token.verify({ token: pair.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect((await eventsOf(user.id)).at(-1)).toEqual({
      type: "admin.sessions_revoked",
      user_id: user.id,
      session_id: null,
      actor: "system",
      ip: null,
      user_agent: null,
      details: { revoked: 2 },
    });
    // Still active: they log in again.
    expect(await service.token.verify({ token: (await loginUser(service, phone)).tokens.access })).toMatchObject({ valid: true });
    expect(done(await identity(env, "users", "revoke-sessions", phone))).toBe(`ended 1 session of ${phone}`);
  }, 60_000);

  it("answers an unknown phone with exit 1 and one line, changing nothing", async () => {
    const unknown = freshPhone();
    const before = await state(sql);
    const lines = [
      ["users", "set-staff", unknown.local, "true"],
      ["users", "disable", unknown.local],
      ["users", "enable", unknown.e164],
      ["users", "revoke-sessions", unknown.local],
    ];
    const results = await identities(env, lines);
    for (const [i, args] of lines.entries()) expect(refused(results[i]!, 1)).toBe(`identity ${args[0]} ${args[1]}: no user has the phone ${unknown.e164}`);
    expect(await state(sql)).toEqual(before);
  }, 60_000);

  it("fails with exit 1 and one line when the database or Redis does not answer", async () => {
    const noDatabase = { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:1/identity" };
    const noRedis = { ...env, REDIS_URL: "redis://127.0.0.1:1" };
    const phone = freshPhone().local;
    const [migrate, create, disable] = await identities(noDatabase, [["migrate"], ["users", "create", "--phone", phone], ["users", "disable", phone]]);
    expect(refused(migrate!, 1)).toMatch(/^identity migrate: the database did not answer: .*ECONNREFUSED/);
    expect(refused(create!, 1)).toMatch(/^identity users create: the database did not answer: .*ECONNREFUSED/);
    expect(refused(disable!, 1)).toMatch(/^identity users disable: the database did not answer: .*ECONNREFUSED/);
    const revoke = await identity(noRedis, "users", "revoke-sessions", phone);
    expect(revoke.status).toBe(1);
    // The store's own warning is a log line on stdout; stderr holds the one line.
    expect(revoke.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/^identity users revoke-sessions: the cache \(Redis\) did not answer: /)]);
    expect(revoke.stdout).not.toMatch(/\bat .*:\d+:\d+/);
  }, 60_000);

  it("beside an instance with the in-process store, refuses what that instance would have to see, and still creates users", async () => {
    const own = await freshStores("real");
    const alone = await startService({ ...own, env: { DATABASE_URL: own.env.DATABASE_URL! } }, { env: { DATA_DIR: dataDir } });
    try {
      const plain = { DATABASE_URL: own.env.DATABASE_URL!, DATA_DIR: dataDir };
      const { phone, tokens } = await registerUser(alone);
      expect(refused(await identity(plain, "users", "disable", phone), 1)).toBe(
        "identity users disable: another instance with the in-process store runs on this database; set REDIS_URL so that instances share state",
      );
      expect(await alone.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
      const created = freshPhone();
      expect(done(await identity(plain, "users", "create", "--phone", created.e164))).toMatch(/^created user /);
      expect((await loginUser(alone, created.e164)).user.phone).toBe(created.e164);
    } finally {
      await alone.stop();
      await own.drop();
    }
  }, 60_000);
});

describe("the identity command on the embedded default (DATA_DIR)", () => {
  let stores: Stores;

  beforeAll(async () => {
    stores = await freshStores("embedded");
  });
  afterAll(async () => {
    await stores?.drop();
  });

  it("works while the service is stopped, and is refused with one line while it runs", async () => {
    const env = stores.env;
    const staff = freshPhone();
    const other = freshPhone();
    expect(done(await identity(env, "migrate"))).toBe("schema is current: no migration to apply");
    expect(done(await identity(env, "users", "create", "--phone", staff.local, "--staff"))).toMatch(new RegExp(`^created staff user ${UUID} with phone \\${staff.e164}$`));
    expect(done(await identity(env, "users", "create", "--phone", other.local))).toMatch(/^created user /);
    expect(done(await identity(env, "users", "disable", other.local))).toBe(`disabled ${other.e164}: every session ended, logins refused`);

    const service = await startService(stores);
    try {
      const { user, tokens } = await loginUser(service, staff.e164);
      expect(user).toMatchObject({ isStaff: true });
      expect(await failure(service.auth.sendOtp({ phone: other.e164, purpose: OtpPurpose.LOGIN }))).toMatchObject({ code: Code.PermissionDenied, reason: "account_disabled" });
      const events = await service.app.db.query<AuditRow>("SELECT type, actor, details FROM audit_events WHERE user_id IN (SELECT id FROM users WHERE phone = ANY($1)) ORDER BY id", [[staff.e164, other.e164]]);
      expect(events.filter((e) => e.actor === "system")).toEqual([
        { type: "user.registered", actor: "system", details: { via: "cli", is_staff: true } },
        { type: "user.registered", actor: "system", details: { via: "cli", is_staff: false } },
        { type: "admin.user_updated", actor: "system", details: { is_active: false } },
      ]);

      const [enable, migrate] = await identities(env, [["users", "enable", other.local], ["migrate"]]);
      expect(refused(enable!, 1)).toMatch(new RegExp(`^identity users enable: DATA_DIR ${env.DATA_DIR} is in use by process ${process.pid}; `));
      expect(refused(migrate!, 1)).toMatch(/^identity migrate: DATA_DIR .* is in use by process/);
      expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
    } finally {
      await service.stop();
    }
    expect(done(await identity(env, "users", "enable", other.local))).toBe(`enabled ${other.e164}: may log in again`);
  }, 120_000);
});
