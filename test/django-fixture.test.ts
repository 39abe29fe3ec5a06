/**
 * The stand-in Django system is the real thing: its schema comes from Django's own
 * migrations, its tokens from SimpleJWT signed with its SECRET_KEY, its blacklist
 * from SimpleJWT's blacklist app. The import and legacy-exchange suites build on it.
 */
import { jwtVerify } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { djangoSuitesRun, freshDjangoDatabase, type DjangoSystem } from "./support/django.js";
import { realStoresAvailable } from "./support/services.js";
import { jwtHeader } from "./support/tools.js";

describe.runIf(realStoresAvailable() && djangoSuitesRun)("the Django system of the tests", () => {
  let django: DjangoSystem;
  let sql: pg.Client;

  beforeAll(async () => {
    django = await freshDjangoDatabase();
    sql = new pg.Client({ connectionString: django.url });
    await sql.connect();
  }, 60_000);

  afterAll(async () => {
    await sql?.end();
    await django?.drop();
  });

  it("has the old system's user table, made by Django's migrations", async () => {
    const { rows } = await sql.query<{ column_name: string; data_type: string; character_maximum_length: number | null }>(
      `SELECT column_name, data_type, character_maximum_length FROM information_schema.columns WHERE table_name = 'accounts_user' ORDER BY column_name`,
    );
    expect(rows).toEqual([
      { column_name: "date_joined", data_type: "timestamp with time zone", character_maximum_length: null },
      { column_name: "first_name", data_type: "character varying", character_maximum_length: 150 },
      { column_name: "id", data_type: "integer", character_maximum_length: null },
      { column_name: "is_active", data_type: "boolean", character_maximum_length: null },
      { column_name: "is_staff", data_type: "boolean", character_maximum_length: null },
      { column_name: "is_superuser", data_type: "boolean", character_maximum_length: null },
      { column_name: "last_login", data_type: "timestamp with time zone", character_maximum_length: null },
      { column_name: "last_name", data_type: "character varying", character_maximum_length: 150 },
      { column_name: "password", data_type: "character varying", character_maximum_length: 128 },
      { column_name: "phone", data_type: "character varying", character_maximum_length: 11 },
    ]);
    const { rows: migrations } = await sql.query<{ app: string }>(`SELECT DISTINCT app FROM django_migrations ORDER BY app`);
    expect(migrations.map((m) => m.app)).toEqual(["accounts", "auth", "contenttypes", "token_blacklist"]);
  });

  it("creates users through Django with the given fields", async () => {
    const [id] = await django.users([{ phone: "09121110001", first_name: "Sara", last_name: "Ahmadi", is_staff: true, date_joined: "2021-05-06T07:08:09Z" }]);
    const { rows } = await sql.query(`SELECT phone, first_name, last_name, is_staff, is_active, date_joined, last_login FROM accounts_user WHERE id = $1`, [id]);
    expect(rows).toEqual([
      { phone: "09121110001", first_name: "Sara", last_name: "Ahmadi", is_staff: true, is_active: true, date_joined: new Date("2021-05-06T07:08:09Z"), last_login: null },
    ]);
  });

  it("issues HS256 refresh and access tokens through SimpleJWT, with the old system's claims, recorded as outstanding", async () => {
    const [id] = await django.users([{ phone: "09121110002", first_name: "Reza", last_name: "Karimi" }]);
    const tokens = await django.refreshToken(id!);
    const key = new TextEncoder().encode(django.signingKey);
    expect(jwtHeader(tokens.refresh)).toEqual({ alg: "HS256", typ: "JWT" });
    const { payload: refresh } = await jwtVerify(tokens.refresh, key, { algorithms: ["HS256"] });
    expect(refresh).toMatchObject({ token_type: "refresh", user_id: id, jti: tokens.jti, phone: "09121110002", first_name: "Reza", last_name: "Karimi", is_staff: false });
    expect(refresh.exp! - refresh.iat!).toBe(7 * 24 * 3600);
    const { payload: access } = await jwtVerify(tokens.access, key, { algorithms: ["HS256"] });
    expect(access).toMatchObject({ token_type: "access", user_id: id, phone: "09121110002" });
    expect(access.jti).not.toBe(tokens.jti);
    const { rows } = await sql.query(`SELECT user_id, expires_at FROM token_blacklist_outstandingtoken WHERE jti = $1`, [tokens.jti]);
    expect(rows).toEqual([{ user_id: id, expires_at: new Date(refresh.exp! * 1000) }]);
  });

  it("blacklists a refresh token through SimpleJWT", async () => {
    const [id] = await django.users([{ phone: "09121110003" }]);
    const kept = await django.refreshToken(id!);
    const loggedOut = await django.refreshToken(id!);
    expect(await django.blacklist(loggedOut.refresh)).toBe(loggedOut.jti);
    const { rows } = await sql.query<{ jti: string }>(
      `SELECT o.jti FROM token_blacklist_blacklistedtoken b JOIN token_blacklist_outstandingtoken o ON o.id = b.token_id WHERE o.user_id = $1`,
      [id],
    );
    expect(rows.map((r) => r.jti)).toEqual([loggedOut.jti]);
    expect(rows.map((r) => r.jti)).not.toContain(kept.jti);
  });
});
