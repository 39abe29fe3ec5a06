/**
 * Hostile input through all three surfaces (issue 4, item 4): the `/api` routes,
 * the Connect protocol on the bridge, and raw gRPC. Bodies and headers a client
 * can send but should not: deep nesting, invalid UTF-8, wrong types, fields that
 * try to grant privileges, invisible or overlong names, wrong content types,
 * CR/LF in headers, odd paths and methods. Each gets the status and reason of
 * DESIGN.md and changes nothing (checked in PostgreSQL). Then the headers every
 * answer must carry, CORS against look-alike origins, and fast-check properties
 * over the `/api` inputs.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { request as httpRequest } from "node:http";
import net from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HTTP_STATUS_OF_REASON } from "../bridge/index.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { AuthService, OtpPurpose } from "../gen/identity/v1/auth_pb.js";
import { startBridgeHarness, type BridgeHarness, type Session } from "./support/bridge-server.js";
import { bearer, failure, freshStores, registerUser, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { jwtPayload } from "./support/tools.js";
import { freshPhone } from "./support/phones.js";

const APP_ORIGIN = "https://app.example.com";
/** The claims DESIGN.md lists; a token must carry no other (none a client chose). */
const CLAIMS = ["exp", "first_name", "iat", "is_staff", "jti", "last_name", "phone", "sid", "sub", "token_type", "user_id"];
const USER_FIELDS = ["date_joined", "first_name", "id", "is_staff", "last_login", "last_name", "phone"];
const STATUS_OF: Readonly<Record<string, number>> = HTTP_STATUS_OF_REASON;
const FOREIGN_ID = "00000000-0000-4000-8000-000000000001";

/** Names that must be refused, each with why. Trimming happens first, so each sits inside the name. */
const HOSTILE_NAMES: Readonly<Record<string, string>> = {
  "151 characters": "a".repeat(151),
  "151 Persian characters": "ب".repeat(151),
  "151 emoji (302 UTF-16 units)": "😀".repeat(151),
  "60 000 characters (under the body cap)": "x".repeat(60_000),
  "NUL": "Sa\u0000ra",
  "BEL": "Sa\u0007ra",
  "ESC (a terminal colour sequence)": "\u001b[31mSara",
  "DEL": "Sa\u007fra",
  "a C1 control (NEL)": "Sa\u0085ra",
  "a tab": "Sa\tra",
  "a line feed": "Sa\nra",
  "RIGHT-TO-LEFT OVERRIDE": "Sara\u202egnp.exe",
  "LEFT-TO-RIGHT OVERRIDE": "Sa\u202dra",
  "POP DIRECTIONAL FORMATTING": "Sa\u202cra",
  "LEFT-TO-RIGHT ISOLATE": "Sa\u2066ra",
  "RIGHT-TO-LEFT ISOLATE": "Sa\u2067ra",
  "FIRST STRONG ISOLATE": "Sa\u2068ra",
  "POP DIRECTIONAL ISOLATE": "Sa\u2069ra",
  "LEFT-TO-RIGHT MARK": "Sa\u200era",
  "RIGHT-TO-LEFT MARK": "Sa\u200fra",
  "ARABIC LETTER MARK": "سا\u061cرا",
  "ZERO WIDTH SPACE": "Sa\u200bra",
  "ZERO WIDTH JOINER": "Sa\u200dra",
  "ZERO WIDTH NON-JOINER between Latin letters": "Sa\u200cra",
  "ZERO WIDTH NON-JOINER at the start of Persian text": "\u200cسارا",
  "WORD JOINER": "Sa\u2060ra",
  "a BOM inside the name": "Sa\ufeffra",
  "SOFT HYPHEN": "Sa\u00adra",
  "tag characters (hidden ASCII)": "Sara\u{E0041}\u{E0042}",
  "LINE SEPARATOR": "Sa\u2028ra",
  "PARAGRAPH SEPARATOR": "Sa\u2029ra",
  "a private-use character": "Sa\ue000ra",
  "a lone high surrogate": "Sa\ud800ra",
  "a lone low surrogate": "Sa\udfffra",
  "REPLACEMENT CHARACTER (left by a lenient UTF-8 decoder)": "Sa\ufffdra",
};

/** Persian given and family names, half-spaces (ZWNJ) included, exactly 150 characters. */
const PERSIAN_150 = (() => {
  const words = "محمدرضا حسین‌زاده علی‌پور فاطمه‌سادات میرزایی عبدالله‌زاده ";
  const chars = [...words.repeat(8)].slice(0, 149);
  while (chars[chars.length - 1] === " " || chars[chars.length - 1] === "\u200c") chars.pop();
  while (chars.length < 150) chars.push("ی");
  return chars.join("");
})();

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed JSON body when there is one; `any` because tests read every shape there is. */
  body: any;
}

describe.runIf(realStoresAvailable())("hostile input", () => {
  let h: BridgeHarness;
  let db: pg.Pool;

  beforeAll(async () => {
    h = await startBridgeHarness({ env: { CORS_ORIGINS: APP_ORIGIN } });
    db = new pg.Pool({ connectionString: h.config.databaseUrl, max: 2 });
  });
  afterAll(async () => {
    await db?.end();
    await h?.close();
  });

  /** A request through node:http, which sends methods, paths and bytes as given (fetch normalizes `..`, refuses TRACE). */
  function send(method: string, path: string, options: { headers?: OutgoingHttpHeaders; body?: string | Buffer; json?: unknown } = {}): Promise<Reply> {
    const headers: OutgoingHttpHeaders = { ...options.headers };
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["content-type"] ??= "application/json";
    }
    if (body !== undefined) headers["content-length"] = Buffer.byteLength(body);
    return new Promise((resolve, reject) => {
      let answered = false;
      const req = httpRequest({ host: "127.0.0.1", port: h.bridge.port, method, path, headers, agent: false }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        // "close" too: after an early answer (413) the server may cut the upload, and with it the stream.
        const finish = () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const json = (res.headers["content-type"] ?? "").includes("json") && text !== "";
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: json ? JSON.parse(text) : undefined });
        };
        res.on("end", finish);
        res.on("close", finish);
      });
      // Writing the rest of a body the server has already refused may fail; the answer is what counts.
      req.on("error", (error) => answered || reject(error));
      req.end(body);
    });
  }

  const post = (path: string, body: string | Buffer, headers: OutgoingHttpHeaders = {}) =>
    send("POST", path, { body, headers: { "content-type": "application/json", ...headers } });
  const auth = (access: string): OutgoingHttpHeaders => ({ authorization: `Bearer ${access}` });

  /** Bytes written straight to the socket; the answer as text, once the server has closed (or 3 s). */
  function rawExchange(bytes: string | Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve) => {
      const socket = net.connect(h.bridge.port, "127.0.0.1");
      const chunks: Buffer[] = [];
      const done = () => {
        const text = Buffer.concat(chunks).toString("latin1");
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
      };
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("error", () => undefined);
      socket.on("close", done);
      socket.setTimeout(3_000, () => socket.destroy());
      socket.write(bytes);
    });
  }

  function expectRefused(reply: Reply, status: number, code: string, field?: string): void {
    expect({ status: reply.status, success: reply.body?.success, code: reply.body?.data?.code }, reply.text.slice(0, 300)).toEqual({ status, success: false, code });
    if (field !== undefined) expect(reply.body.data.field).toBe(field);
    expect(reply.body.message).toBeTypeOf("string");
    expect(reply.body.message).not.toBe("");
    expect(reply.headers["x-content-type-options"]).toBe("nosniff");
  }

  async function stillServes(): Promise<void> {
    const health = await send("GET", "/healthz");
    expect(health.status).toBe(200);
    expect(health.body.data.status).toBe("ok");
  }

  type UserRow = { id: string; phone: string; first_name: string; last_name: string; is_staff: boolean; is_active: boolean };
  async function userRow(e164: string): Promise<UserRow | undefined> {
    const { rows } = await db.query<UserRow>("SELECT id::text, phone, first_name, last_name, is_staff, is_active FROM users WHERE phone = $1", [e164]);
    return rows[0];
  }
  async function userCount(): Promise<number> {
    return Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM users")).rows[0]!.n);
  }

  /** A phone with a live register code (send-otp), not yet registered. */
  async function pendingSignUp(): Promise<{ local: string; e164: string; code: string }> {
    const phone = freshPhone();
    return { ...phone, code: await h.codeFor(phone.local, "register") };
  }

  function expectNoPrivilegeIn(access: string, user: { id: string; phone: string }): void {
    const claims = jwtPayload(access);
    expect(Object.keys(claims).sort()).toEqual(CLAIMS);
    expect(claims).toMatchObject({ sub: user.id, user_id: user.id, phone: user.phone, is_staff: false });
  }

  function expectPrototypeClean(): void {
    const probe: Record<string, unknown> = {};
    for (const name of ["is_staff", "is_superuser", "first_name", "phone", "polluted"]) {
      expect(probe[name], name).toBeUndefined();
      expect(Object.hasOwn(Object.prototype, name), name).toBe(false);
    }
  }

  describe("/api bodies", () => {
    it("refuses 50,000 open brackets and 30,000 levels of nesting (within the 64 KiB cap) with a 400, and keeps serving", async () => {
      const deepArray = "[".repeat(30_000) + "]".repeat(30_000);
      const deepObject = '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000);
      expectRefused(await post("/api/send-otp/", "[".repeat(50_000)), 400, "invalid_json");
      expectRefused(await post("/api/send-otp/", "{".repeat(50_000)), 400, "invalid_json");
      expectRefused(await post("/api/send-otp/", deepArray), 400, "validation_error");
      expectRefused(await post("/api/send-otp/", deepObject), 400, "validation_error", "phone");
      expectRefused(await post("/api/send-otp/", `{"phone":${deepArray},"purpose":"register"}`), 400, "validation_error", "phone");
      expectRefused(await post("/api/login/", `{"phone":"09121234567","code":${deepObject}}`), 400, "validation_error", "code");
      await stillServes();
    });

    it("refuses invalid UTF-8 with 400 invalid_json, and a lone surrogate in a name with validation_error; nothing is stored", async () => {
      const before = await userCount();
      const p = await pendingSignUp();
      const bodyWith = (name: Buffer) =>
        Buffer.concat([Buffer.from(`{"phone":"${p.local}","code":"${p.code}","first_name":"`), name, Buffer.from('","last_name":"Ahmadi"}')]);
      const invalid = [
        [0xc3, 0x28], // a lead byte without its continuation
        [0xc0, 0xaf], // "/" in an overlong two-byte form
        [0xe0, 0x80, 0xaf], // "/" in an overlong three-byte form
        [0xed, 0xa0, 0x80], // a surrogate (U+D800) encoded as if it were a character
        [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
        [0xe2, 0x82], // a truncated sequence
        [0x80], // a lone continuation byte
        [0xff],
      ];
      for (const bytes of invalid) expectRefused(await post("/api/register/", bodyWith(Buffer.from(bytes))), 400, "invalid_json");
      // Escaped in valid JSON, a lone surrogate parses; PostgreSQL would have stored it as U+FFFD.
      for (const escaped of ["\\ud800", "Sa\\udfffra", "\\udc00\\ud800"]) {
        expectRefused(await post("/api/register/", bodyWith(Buffer.from(escaped))), 400, "validation_error", "first_name");
      }
      expect(await userRow(p.e164)).toBeUndefined();
      expect(await userCount()).toBe(before);

      // The code was never consumed; a real pair of escaped surrogates is an emoji, stored as sent.
      const created = await post("/api/register/", bodyWith(Buffer.from("Sara \\ud83d\\ude00")));
      expect(created.status).toBe(201);
      expect(created.body.data.user.first_name).toBe("Sara 😀");
      expect((await userRow(p.e164))?.first_name).toBe("Sara 😀");
    });

    it("refuses every field of every route given a number, boolean, null, array or object with 400 validation_error naming it", async () => {
      const { tokens } = await h.signUp(freshPhone().local, { first_name: "Sara", last_name: "Ahmadi" });
      const phone = freshPhone().local;
      const routes: { method: string; path: string; fields: Record<string, string> }[] = [
        { method: "POST", path: "/api/send-otp/", fields: { phone, purpose: "register" } },
        { method: "POST", path: "/api/register/", fields: { phone, code: "123456", first_name: "Sara", last_name: "Ahmadi" } },
        { method: "POST", path: "/api/login/", fields: { phone, code: "123456" } },
        { method: "POST", path: "/api/token/refresh/", fields: { refresh: tokens.refresh } },
        { method: "POST", path: "/api/token/verify/", fields: { token: tokens.access } },
        { method: "POST", path: "/api/logout/", fields: { refresh: tokens.refresh } },
        { method: "PATCH", path: "/api/profile/", fields: { first_name: "Nima", last_name: "Karimi" } },
      ];
      const wrong: unknown[] = [0, 123, -1.5, 1e308, true, false, null, [], ["09121234567"], {}, { value: "Sara" }];
      for (const route of routes) {
        for (const field of Object.keys(route.fields)) {
          for (const value of wrong) {
            const reply = await send(route.method, route.path, { json: { ...route.fields, [field]: value }, headers: auth(tokens.access) });
            expectRefused(reply, 400, "validation_error", field);
          }
        }
      }
      // None of those reached a service: the session and the profile are as they were.
      expect((await h.request("POST", "/api/token/verify/", { json: { token: tokens.access } })).status).toBe(200);
      const profile = await send("GET", "/api/dashboard/", { headers: auth(tokens.access) });
      expect(profile.body.data.user).toMatchObject({ first_name: "Sara", last_name: "Ahmadi" });
    });

    it("answers huge strings in every field with the field's own refusal, never a 5xx", async () => {
      const huge = "9".repeat(60_000);
      const { tokens } = await h.signUp(freshPhone().local);
      const phone = freshPhone().local;
      const cases: [string, string, Record<string, string>, number, string, string?][] = [
        ["POST", "/api/send-otp/", { phone: huge, purpose: "register" }, 400, "invalid_phone"],
        ["POST", "/api/send-otp/", { phone, purpose: huge }, 400, "validation_error", "purpose"],
        ["POST", "/api/register/", { phone: huge, code: "123456" }, 400, "invalid_phone"],
        ["POST", "/api/register/", { phone, code: huge }, 400, "validation_error", "code"],
        ["POST", "/api/register/", { phone, code: "123456", first_name: huge }, 400, "validation_error", "first_name"],
        ["POST", "/api/register/", { phone, code: "123456", last_name: huge }, 400, "validation_error", "last_name"],
        ["POST", "/api/login/", { phone: huge, code: "123456" }, 400, "invalid_phone"],
        ["POST", "/api/login/", { phone, code: huge }, 400, "validation_error", "code"],
        ["POST", "/api/token/refresh/", { refresh: huge }, 401, "token_not_valid"],
        ["POST", "/api/token/verify/", { token: huge }, 401, "token_not_valid"],
        ["POST", "/api/logout/", { refresh: huge }, 401, "token_not_valid"],
        ["PATCH", "/api/profile/", { first_name: huge }, 400, "validation_error", "first_name"],
        ["PATCH", "/api/profile/", { last_name: huge }, 400, "validation_error", "last_name"],
      ];
      for (const [method, path, json, status, code, field] of cases) {
        expectRefused(await send(method, path, { json, headers: auth(tokens.access) }), status, code, field);
      }
      // A huge Bearer token in the header, too.
      expectRefused(await send("GET", "/api/dashboard/", { headers: auth("x".repeat(12_000)) }), 401, "token_not_valid");
    });

    it("ignores is_staff, id, __proto__ and the like in a registration: a plain user, no privilege in the tokens, no prototype polluted", async () => {
      const p = await pendingSignUp();
      const body = `{"phone":"${p.local}","code":"${p.code}","first_name":"Sara","last_name":"Ahmadi",
        "is_staff":true,"is_superuser":true,"is_active":false,"id":"${FOREIGN_ID}","user_id":"${FOREIGN_ID}","sub":"${FOREIGN_ID}",
        "token_type":"refresh","date_joined":"2000-01-01T00:00:00Z","last_login":null,
        "__proto__":{"is_staff":true,"polluted":true,"phone":"+989121111111"},
        "constructor":{"prototype":{"is_staff":true,"polluted":true}},"prototype":{"is_staff":true}}`;
      const reply = await post("/api/register/", body);
      expect(reply.status).toBe(201);
      const { user, tokens } = reply.body.data as Session & { user: { is_staff: boolean } };
      expect(Object.keys(user).sort()).toEqual(USER_FIELDS);
      expect(user).toMatchObject({ phone: p.e164, first_name: "Sara", last_name: "Ahmadi", is_staff: false });
      expect(user.id).not.toBe(FOREIGN_ID);
      expectNoPrivilegeIn(tokens.access, user);
      expectNoPrivilegeIn(tokens.refresh, user);
      expect(await userRow(p.e164)).toEqual({ id: user.id, phone: p.e164, first_name: "Sara", last_name: "Ahmadi", is_staff: false, is_active: true });
      expect(await userRow("+989121111111")).toBeUndefined();
      expectPrototypeClean();
    });

    it("ignores id, phone, is_staff, __proto__ and the like in PATCH /api/profile/: only the names change", async () => {
      const victim = await h.signUp(freshPhone().local, { first_name: "Victim", last_name: "Other" });
      const me = await h.signUp(freshPhone().local, { first_name: "Sara", last_name: "Ahmadi" });
      const before = await userRow(me.user.phone);
      const body = `{"first_name":"Nima","id":"${victim.user.id}","user_id":"${victim.user.id}","phone":"${victim.user.phone}",
        "is_staff":true,"is_superuser":true,"is_active":false,"date_joined":"2000-01-01T00:00:00Z",
        "__proto__":{"last_name":"Evil","is_staff":true,"polluted":true},
        "constructor":{"prototype":{"is_staff":true,"polluted":true}},"prototype":{"last_name":"Evil"}}`;
      const reply = await send("PATCH", "/api/profile/", { body, headers: { ...auth(me.tokens.access), "content-type": "application/json" } });
      expect(reply.status).toBe(200);
      expect(reply.body.data.user).toMatchObject({ id: me.user.id, phone: me.user.phone, first_name: "Nima", last_name: "Ahmadi", is_staff: false });
      expect(await userRow(me.user.phone)).toEqual({ ...before, first_name: "Nima" });
      expect(await userRow(victim.user.phone)).toMatchObject({ id: victim.user.id, first_name: "Victim", last_name: "Other", is_staff: false });

      // A body of nothing but __proto__ sets no field: 200 and no change.
      const nothing = await send("PATCH", "/api/profile/", { body: '{"__proto__":{"first_name":"Evil"}}', headers: { ...auth(me.tokens.access), "content-type": "application/json" } });
      expect(nothing.status).toBe(200);
      expect(await userRow(me.user.phone)).toEqual({ ...before, first_name: "Nima" });

      const refreshed = await h.request("POST", "/api/token/refresh/", { json: { refresh: me.tokens.refresh } });
      expectNoPrivilegeIn(refreshed.body.data.access, me.user);
      expect(jwtPayload(refreshed.body.data.access).first_name).toBe("Nima");
      expectPrototypeClean();
    });
  });

  describe("names", () => {
    it("refuses control, bidi, zero-width and overlong names in PATCH /api/profile/ with validation_error, the profile unchanged", async () => {
      const { user, tokens } = await h.signUp(freshPhone().local, { first_name: "Sara", last_name: "Ahmadi" });
      const before = await userRow(user.phone);
      for (const [why, name] of Object.entries(HOSTILE_NAMES)) {
        for (const field of ["first_name", "last_name"]) {
          const reply = await send("PATCH", "/api/profile/", { json: { [field]: name }, headers: auth(tokens.access) });
          expect(reply.status, `${field} with ${why}`).toBe(400);
          expectRefused(reply, 400, "validation_error", field);
        }
      }
      // One bad field refuses the whole change: the good one is not written either.
      expectRefused(await send("PATCH", "/api/profile/", { json: { first_name: "Nima", last_name: "\u202eimharK" }, headers: auth(tokens.access) }), 400, "validation_error", "last_name");
      expect(await userRow(user.phone)).toEqual(before);
    });

    it("refuses the same names at registration, creating no user and leaving the code usable", async () => {
      const before = await userCount();
      const p = await pendingSignUp();
      for (const [why, name] of Object.entries(HOSTILE_NAMES)) {
        const reply = await send("POST", "/api/register/", { json: { phone: p.local, code: p.code, first_name: name, last_name: "Ahmadi" } });
        expect(reply.status, why).toBe(400);
        expectRefused(reply, 400, "validation_error", "first_name");
      }
      expectRefused(await send("POST", "/api/register/", { json: { phone: p.local, code: p.code, first_name: "Sara", last_name: "\u200bAhmadi" } }), 400, "validation_error", "last_name");
      expect(await userCount()).toBe(before);
      expect((await send("POST", "/api/register/", { json: { phone: p.local, code: p.code, first_name: "Sara" } })).status).toBe(201);
    });

    it("refuses a 1 MB name before reading it: 413 payload_too_large, nothing stored", async () => {
      const { user, tokens } = await h.signUp(freshPhone().local);
      const before = await userRow(user.phone);
      expectRefused(await send("PATCH", "/api/profile/", { json: { first_name: "x".repeat(1024 * 1024) }, headers: auth(tokens.access) }), 413, "payload_too_large");
      expect(await userRow(user.phone)).toEqual(before);
      await stillServes();
    });

    it("accepts 150 characters of Persian with half-spaces and returns them byte for byte, in the profile, the database and the tokens", async () => {
      expect([...PERSIAN_150]).toHaveLength(150);
      expect(PERSIAN_150).toContain("\u200c");
      expect(PERSIAN_150.normalize("NFC")).toBe(PERSIAN_150);
      const { user, tokens } = await h.signUp(freshPhone().local, { first_name: "حسین‌زاده", last_name: "علی‌پور" });
      expect(user).toMatchObject({ first_name: "حسین‌زاده", last_name: "علی‌پور" });

      const reply = await send("PATCH", "/api/profile/", { json: { first_name: PERSIAN_150, last_name: "😀".repeat(150) }, headers: auth(tokens.access) });
      expect(reply.status).toBe(200);
      expect(Buffer.from(reply.body.data.user.first_name).equals(Buffer.from(PERSIAN_150))).toBe(true);
      expect(reply.body.data.user.last_name).toBe("😀".repeat(150));
      expect((await userRow(user.phone))?.first_name).toBe(PERSIAN_150);
      const dashboard = await send("GET", "/api/dashboard/", { headers: auth(tokens.access) });
      expect(dashboard.body.data.user.first_name).toBe(PERSIAN_150);
      const refreshed = await h.request("POST", "/api/token/refresh/", { json: { refresh: tokens.refresh } });
      expect(jwtPayload(refreshed.body.data.access).first_name).toBe(PERSIAN_150);
    });

    it("stores a name trimmed of the whitespace at its ends, invisible whitespace included, as plain text", async () => {
      const { user, tokens } = await h.signUp(freshPhone().local);
      const reply = await send("PATCH", "/api/profile/", { json: { first_name: " \ufeff\u00a0Sara\u2028\t ", last_name: "  <script>alert(1)</script>  " }, headers: auth(tokens.access) });
      expect(reply.status).toBe(200);
      expect(await userRow(user.phone)).toMatchObject({ first_name: "Sara", last_name: "<script>alert(1)</script>" });
      // Markup is text: it is sent back as JSON, never interpreted.
      expect(reply.headers["content-type"]).toBe("application/json; charset=utf-8");
    });
  });

  describe("content types", () => {
    const REFUSED = [
      undefined,
      "",
      "text/plain",
      "text/json",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=xyz",
      "application/json; charset=latin1",
      "application/json; charset=utf-16",
      "application/jsonp",
      "application/json5",
      "application/javascript",
      "application/json, text/plain",
    ];

    it("refuses every body route with 415 for anything but JSON in UTF-8, and changes nothing", async () => {
      const before = await userCount();
      const p = await pendingSignUp();
      const { user, tokens } = await h.signUp(freshPhone().local, { first_name: "Sara", last_name: "Ahmadi" });
      const profileBefore = await userRow(user.phone);
      const routes: [string, string, object][] = [
        ["POST", "/api/send-otp/", { phone: freshPhone().local, purpose: "register" }],
        ["POST", "/api/register/", { phone: p.local, code: p.code, first_name: "Sara" }],
        ["POST", "/api/login/", { phone: user.phone, code: "123456" }],
        ["POST", "/api/token/refresh/", { refresh: tokens.refresh }],
        ["POST", "/api/token/verify/", { token: tokens.access }],
        ["POST", "/api/logout/", { refresh: tokens.refresh }],
        ["PATCH", "/api/profile/", { first_name: "Nima" }],
      ];
      for (const [method, path, json] of routes) {
        for (const contentType of REFUSED) {
          const headers: OutgoingHttpHeaders = { ...auth(tokens.access) };
          if (contentType !== undefined) headers["content-type"] = contentType;
          const reply = await send(method, path, { body: JSON.stringify(json), headers });
          expect(reply.status, `${method} ${path} as ${String(contentType)}`).toBe(415);
          expectRefused(reply, 415, "unsupported_media_type");
        }
      }
      expect(await userCount()).toBe(before + 1); // the signUp above, not the refused register
      expect(await userRow(p.e164)).toBeUndefined();
      expect(await userRow(user.phone)).toEqual(profileBefore);
      // The session was not logged out nor rotated: the same refresh token still rotates once.
      expect((await h.request("POST", "/api/token/refresh/", { json: { refresh: tokens.refresh } })).status).toBe(200);
    });

    it("accepts JSON in any letter case, with an explicit UTF-8 charset, or as an application/*+json type", async () => {
      for (const contentType of ["application/json", "Application/JSON", "application/json;charset=utf-8", 'application/json; charset="UTF-8"', "application/merge-patch+json"]) {
        const reply = await send("POST", "/api/send-otp/", { body: JSON.stringify({ phone: freshPhone().local, purpose: "register" }), headers: { "content-type": contentType } });
        expect(reply.status, contentType).toBe(200);
      }
    });
  });

  describe("headers and request lines", () => {
    it("answers CR, LF or NUL in a header, obs-fold, smuggling headers and an unknown method with node's clean 400, and keeps serving", async () => {
      const requests = {
        "CR in a value": "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: a\rSet-Cookie: b\r\n\r\n",
        "LF in a value": "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: a\nAuthorization: Bearer b\r\n\r\n",
        "NUL in a value": "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: a\u0000b\r\n\r\n",
        "a space in a name": "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: b\r\n\r\n",
        "obs-fold": "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: a\r\n Authorization: Bearer b\r\n\r\n",
        "CR in the request line": "GET /healthz\rX HTTP/1.1\r\nHost: x\r\n\r\n",
        "Content-Length with Transfer-Encoding": "POST /api/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "two Content-Lengths": "POST /api/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}}",
        "an unknown method": "FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "no Host": "GET /healthz HTTP/1.1\r\n\r\n",
      };
      for (const [why, bytes] of Object.entries(requests)) {
        const answer = await rawExchange(bytes);
        expect(answer.status, why).toBe(400);
        expect(answer.text, why).not.toMatch(/Set-Cookie|"success":true/);
      }
      // CONNECT is not proxied: the connection is closed without an answer.
      expect((await rawExchange("CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n")).text).toBe("");
      await stillServes();
    });

    it("refuses a request line past node's header limit with 431, and keeps serving", async () => {
      const answer = await rawExchange(`GET /api/${"a".repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(answer.status).toBe(431);
      await stillServes();
    });

    it("never takes a token from the query string", async () => {
      const { tokens } = await h.signUp(freshPhone().local);
      expectRefused(await send("GET", `/api/dashboard/?access_token=${tokens.access}`), 401, "not_authenticated");
      expectRefused(await send("GET", `/api/dashboard/?authorization=Bearer%20${tokens.access}`), 401, "not_authenticated");
    });
  });

  describe("unknown routes and methods", () => {
    it("answers TRACE, PUT, DELETE and other wrong methods on known paths with 405 and Allow", async () => {
      const cases: [string, string, string][] = [
        ["TRACE", "/api/login/", "POST, OPTIONS"],
        ["TRACE", "/healthz", "GET, HEAD, OPTIONS"],
        ["PUT", "/api/login/", "POST, OPTIONS"],
        ["DELETE", "/api/profile/", "PATCH, OPTIONS"],
        ["GET", "/api/profile/", "PATCH, OPTIONS"],
        ["PATCH", "/api/register/", "POST, OPTIONS"],
        ["POST", "/api/jwks/", "GET, HEAD, OPTIONS"],
        ["POST", "/", "GET, HEAD, OPTIONS"],
      ];
      // OPTIONS without Origin is not a preflight: it is answered 204 with Allow (bridge-http.test.ts).
      for (const [method, path, allow] of cases) {
        const reply = await send(method, path, { json: {} });
        expectRefused(reply, 405, "method_not_allowed");
        expect(reply.headers.allow, `${method} ${path}`).toBe(allow);
      }
    });

    it("answers paths with .., %2e%2e, double slashes, odd case or great length with 404, never a file", async () => {
      const paths = [
        "/api/../api/login/",
        "/api/%2e%2e/api/login/",
        "/api/login/%2e%2e",
        "//api//login//",
        "/API/LOGIN/",
        "/api/login%2f",
        "/api/login;x=1",
        "/api/login%00",
        "/static/js/../../package.json",
        "/static/js/%2e%2e/%2e%2e/package.json",
        "/static/..%2f..%2fpackage.json",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/static/js/jwt-client.js/..",
        "/identity.v1.AuthService/../../api/login",
        "/identity.v1.AuthService/Register/extra",
        "http://evil.example/healthz",
        "*",
        `/api/${"a".repeat(8_000)}`,
      ];
      for (const path of paths) {
        const reply = await send("POST", path, { json: { phone: "09121234567", code: "123456" } });
        expect(reply.status, path.slice(0, 80)).toBe(404);
        expectRefused(reply, 404, "not_found");
        expect(reply.text).not.toContain('"dependencies"');
      }
    });

    it("answers HEAD like GET without a body, and refuses it where GET is not served", async () => {
      const { tokens } = await h.signUp(freshPhone().local);
      const health = await send("HEAD", "/healthz");
      expect({ status: health.status, text: health.text, type: health.headers["content-type"] }).toEqual({ status: 200, text: "", type: "application/json; charset=utf-8" });
      const page = await send("HEAD", "/");
      expect(page.status).toBe(200);
      expect(page.text).toBe("");
      expect(page.headers["content-security-policy"]).toContain("default-src 'none'");
      const dashboard = await send("HEAD", "/api/dashboard/", { headers: auth(tokens.access) });
      expect({ status: dashboard.status, text: dashboard.text, authenticated: dashboard.headers["x-authenticated"] }).toEqual({ status: 200, text: "", authenticated: "true" });
      const anonymous = await send("HEAD", "/api/dashboard/");
      expect({ status: anonymous.status, text: anonymous.text }).toEqual({ status: 401, text: "" });
      const login = await send("HEAD", "/api/login/");
      expect({ status: login.status, text: login.text, allow: login.headers.allow }).toEqual({ status: 405, text: "", allow: "POST, OPTIONS" });
      for (const reply of [health, page, dashboard, anonymous, login]) expect(reply.headers["x-content-type-options"]).toBe("nosniff");
    });
  });

  describe("security headers on every answer", () => {
    it("sends nosniff on every answer, no-store on every answer with tokens or user data, and a strict CSP on the page", async () => {
      const answers: [string, Reply][] = [];
      const note = async (label: string, reply: Promise<Reply>) => {
        const r = await reply;
        answers.push([label, r]);
        return r;
      };
      const json = (body: unknown, headers: OutgoingHttpHeaders = {}): { json: unknown; headers: OutgoingHttpHeaders } => ({ json: body, headers });

      // Successes that carry tokens or user data.
      const p = await pendingSignUp();
      const registered = await note("register 201", send("POST", "/api/register/", json({ phone: p.local, code: p.code, first_name: "Sara" })));
      expect(registered.status).toBe(201);
      const { tokens } = registered.body.data as Session;
      await note("send-otp 200 (login)", send("POST", "/api/send-otp/", json({ phone: p.local, purpose: "login" })));
      const loggedIn = await note("login 200", send("POST", "/api/login/", json({ phone: p.local, code: h.inbox.codeFor(p.e164, "login") })));
      expect(loggedIn.status).toBe(200);
      const second = (loggedIn.body.data as Session).tokens;
      const refreshed = await note("refresh 200", send("POST", "/api/token/refresh/", json({ refresh: tokens.refresh })));
      expect(refreshed.status).toBe(200);
      await note("verify 200", send("POST", "/api/token/verify/", json({ token: refreshed.body.data.access })));
      await note("dashboard 200", send("GET", "/api/dashboard/", { headers: auth(refreshed.body.data.access) }));
      await note("profile 200", send("PATCH", "/api/profile/", json({ last_name: "Karimi" }, auth(refreshed.body.data.access))));
      await note("logout 200", send("POST", "/api/logout/", json({ refresh: second.refresh })));

      // Their refusals.
      await note("register 400 validation_error", send("POST", "/api/register/", json({ phone: p.local })));
      await note("login 400 invalid_json", post("/api/login/", "{"));
      await note("dashboard 401", send("GET", "/api/dashboard/"));
      await note("verify 401", send("POST", "/api/token/verify/", json({ token: "garbage" })));
      await note("refresh 403", send("POST", "/api/token/refresh/", json({ refresh: second.refresh })));
      await note("profile 413", send("PATCH", "/api/profile/", json({ first_name: "x".repeat(70_000) }, auth(refreshed.body.data.access))));
      await note("register 415", send("POST", "/api/register/", { body: "{}", headers: { "content-type": "text/plain" } }));
      const phone = freshPhone().local;
      await note("send-otp 200 (register)", send("POST", "/api/send-otp/", json({ phone, purpose: "register" })));
      await note("send-otp 429", send("POST", "/api/send-otp/", json({ phone, purpose: "register" })));
      h.inbox.failWith(500);
      try {
        await note("send-otp 503", send("POST", "/api/send-otp/", json({ phone: freshPhone().local, purpose: "register" })));
      } finally {
        h.inbox.failWith(200);
      }
      await note("logout-all 200", send("POST", "/api/logout-all/", { headers: auth(refreshed.body.data.access) }));
      await note("404", send("GET", "/api/nothing/"));
      await note("405", send("DELETE", "/api/login/"));

      // The Connect protocol: a success with tokens, and refusals.
      const c = await pendingSignUp();
      await note("Connect Register 200", send("POST", "/identity.v1.AuthService/Register", json({ phone: c.local, code: c.code, firstName: "Sara" })));
      await note("Connect GetProfile 401", send("POST", "/identity.v1.AuthService/GetProfile", json({})));
      await note("Connect 404", send("POST", "/identity.v1.AuthService/Nothing", json({})));

      // Answers without user data.
      await note("healthz 200", send("GET", "/healthz"));
      await note("readyz 200", send("GET", "/readyz"));
      await note("jwks 200", send("GET", "/api/jwks/"));
      await note("well-known jwks 200", send("GET", "/.well-known/jwks.json"));
      const page = await note("demo page 200", send("GET", "/"));
      const script = await note("client script 200", send("GET", "/static/js/jwt-client.js"));
      await note("stylesheet 200", send("GET", "/static/css/demo.css"));
      await note("script 304", send("GET", "/static/js/jwt-client.js", { headers: { "if-none-match": String(script.headers.etag) } }));
      await note("preflight 204", send("OPTIONS", "/api/login/", { headers: { origin: APP_ORIGIN, "access-control-request-method": "POST" } }));
      await note("preflight 204, other origin", send("OPTIONS", "/api/login/", { headers: { origin: "https://evil.example", "access-control-request-method": "POST" } }));

      const statuses = new Set(answers.map(([, r]) => r.status));
      for (const status of [200, 201, 204, 304, 400, 401, 403, 404, 405, 413, 415, 429, 503]) expect(statuses, `an answer with ${status}`).toContain(status);
      for (const [label, reply] of answers) expect(reply.headers["x-content-type-options"], label).toBe("nosniff");

      const withUserData = answers.filter(([label]) => /register|login|refresh|verify|dashboard|profile|logout|Connect|send-otp/.test(label));
      expect(withUserData.length).toBeGreaterThan(15);
      for (const [label, reply] of withUserData) expect(reply.headers["cache-control"], label).toBe("no-store");
      for (const [label, reply] of answers) {
        if (reply.body !== undefined && reply.status !== 200) expect(reply.headers["cache-control"], label).toBe("no-store");
      }

      const csp = String(page.headers["content-security-policy"]);
      const directives = new Map(csp.split(";").map((d) => d.trim().split(/\s+/)).map(([name = "", ...values]) => [name, values]));
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|unsafe-hashes|strict-dynamic|\*/);
      expect(directives.get("default-src")).toEqual(["'none'"]);
      expect(directives.get("script-src")).toEqual(["'self'"]);
      expect(directives.get("style-src")).toEqual(["'self'"]);
      expect(directives.get("base-uri")).toEqual(["'none'"]);
      expect(directives.get("frame-ancestors")).toEqual(["'none'"]);
      expect(page.headers["x-frame-options"]).toBe("DENY");
      expect(page.headers["referrer-policy"]).toBe("no-referrer");
    });
  });

  describe("CORS with CORS_ORIGINS=https://app.example.com", () => {
    const LOOK_ALIKES = [
      "https://app.example.com.evil.com",
      "https://evilapp.example.com",
      "https://app-example.com",
      "https://app.example.co",
      "http://app.example.com",
      "https://app.example.com:8443",
      "https://app.example.com:443",
      "https://app.example.com/",
      "https://app.example.com.",
      "https://app.example.com%60.evil.com",
      "https://app.example.com@evil.com",
      "https://evil.com#https://app.example.com",
      "null",
      "",
    ];

    function expectNoCors(reply: Reply, why: string): void {
      for (const name of ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers", "access-control-expose-headers", "access-control-allow-credentials"]) {
        expect(reply.headers[name], `${why}: ${name}`).toBeUndefined();
      }
    }

    it("gives look-alike origins no CORS headers, on simple requests and preflights, on /api and Connect paths", async () => {
      for (const origin of LOOK_ALIKES) {
        expectNoCors(await send("GET", "/api/jwks/", { headers: { origin } }), `simple from ${origin}`);
        expectNoCors(await send("POST", "/api/token/verify/", { json: { token: "x" }, headers: { origin } }), `POST from ${origin}`);
        for (const path of ["/api/dashboard/", "/identity.v1.AuthService/GetProfile"]) {
          const preflight = await send("OPTIONS", path, { headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization" } });
          expectNoCors(preflight, `preflight from ${origin}`);
        }
      }
      // Two Origin headers, one of them allowed, are one list that matches nothing.
      for (const origin of [["https://evil.com", APP_ORIGIN], [APP_ORIGIN, "https://evil.com"]]) {
        expectNoCors(await send("GET", "/api/jwks/", { headers: { Origin: origin } }), `two origins ${origin.join(" ")}`);
      }
    });

    it("allows the exact origin, in any ASCII letter case, echoing what was sent, never with credentials", async () => {
      for (const origin of [APP_ORIGIN, "https://APP.EXAMPLE.COM", "HTTPS://App.Example.Com"]) {
        const simple = await send("GET", "/api/jwks/", { headers: { origin } });
        expect(simple.headers["access-control-allow-origin"], origin).toBe(origin);
        expect(simple.headers.vary).toMatch(/Origin/);
        for (const path of ["/api/dashboard/", "/identity.v1.AuthService/GetProfile"]) {
          const preflight = await send("OPTIONS", path, { headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization" } });
          expect(preflight.status).toBe(204);
          expect(preflight.headers["access-control-allow-origin"]).toBe(origin);
          expect(preflight.headers["access-control-allow-credentials"]).toBeUndefined();
        }
      }
      // Only ASCII letters fold: a Latin-1 look-alike stays another origin.
      expectNoCors(await send("GET", "/api/jwks/", { headers: { origin: "https://app.\u00e9xample.com" } }), "non-ASCII look-alike");
    });
  });

  describe("the Connect protocol on the bridge", () => {
    const connectAuth = () => createClient(AuthService, createConnectTransport({ baseUrl: h.url, httpVersion: "1.1" }));

    /** The `google.rpc.ErrorInfo` reason in a Connect JSON error body, if any. */
    function reasonOf(body: { details?: { type: string; value: string }[] } | undefined): { reason?: string; field?: string } {
      const detail = body?.details?.find((d) => d.type === "google.rpc.ErrorInfo");
      if (detail === undefined) return {};
      const info = fromBinary(ErrorInfoSchema, Buffer.from(detail.value, "base64"));
      return { reason: info.reason, field: info.metadata.field };
    }

    function expectConnectRefusal(reply: Reply, status: number, code: string, why = ""): void {
      expect({ status: reply.status, code: reply.body?.code }, `${why} ${reply.text.slice(0, 200)}`).toEqual({ status, code });
      expect(reply.headers["x-content-type-options"]).toBe("nosniff");
    }

    it("refuses wrong JSON types with invalid_argument, and creates nothing", async () => {
      const before = await userCount();
      const p = await pendingSignUp();
      const valid = { phone: p.local, code: p.code, firstName: "Sara", lastName: "Ahmadi" };
      for (const field of ["phone", "code", "firstName", "lastName"]) {
        for (const value of [123, true, [], ["x"], {}, { a: "b" }]) {
          const reply = await send("POST", "/identity.v1.AuthService/Register", { json: { ...valid, [field]: value } });
          expectConnectRefusal(reply, 400, "invalid_argument", `${field}=${JSON.stringify(value)}`);
        }
      }
      for (const purpose of ["BOGUS", {}, [1], true, 1.5]) {
        expectConnectRefusal(await send("POST", "/identity.v1.AuthService/SendOtp", { json: { phone: freshPhone().local, purpose } }), 400, "invalid_argument");
      }
      // A number no enum value has parses (proto3 enums are open) and is then refused by the service, with a reason.
      const unknownPurpose = await send("POST", "/identity.v1.AuthService/SendOtp", { json: { phone: freshPhone().local, purpose: 99 } });
      expectConnectRefusal(unknownPurpose, 400, "invalid_argument");
      expect(reasonOf(unknownPurpose.body)).toEqual({ reason: "validation_error", field: "purpose" });
      for (const body of ["{", "", "[]", '"x"', "[".repeat(50_000)]) {
        expectConnectRefusal(await post("/identity.v1.AuthService/Register", body), 400, "invalid_argument", body.slice(0, 10));
      }
      expectConnectRefusal(await post("/identity.v1.AuthService/Register", `{"phone":${"[".repeat(30_000)}${"]".repeat(30_000)}}`), 400, "invalid_argument");
      expect(await userCount()).toBe(before);
      expect(await userRow(p.e164)).toBeUndefined();
    });

    it("refuses hostile names with invalid_argument and reason validation_error, invalid UTF-8 included, and creates nothing", async () => {
      const before = await userCount();
      const p = await pendingSignUp();
      for (const [why, name] of Object.entries(HOSTILE_NAMES)) {
        const reply = await send("POST", "/identity.v1.AuthService/Register", { json: { phone: p.local, code: p.code, firstName: name } });
        expectConnectRefusal(reply, 400, "invalid_argument", why);
        // protobuf-es refuses a lone surrogate (escaped in JSON) as it decodes, before the service sees it.
        const decoderRefuses = /\p{Cs}/u.test(name);
        expect(reasonOf(reply.body), why).toEqual(decoderRefuses ? {} : { reason: "validation_error", field: "first_name" });
      }
      // Connect's JSON decoder is lenient: invalid UTF-8 becomes U+FFFD, which a name may not hold.
      const raw = Buffer.concat([Buffer.from(`{"phone":"${p.local}","code":"${p.code}","firstName":"Sa`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('ra"}')]);
      const invalid = await post("/identity.v1.AuthService/Register", raw);
      expectConnectRefusal(invalid, 400, "invalid_argument");
      expect(reasonOf(invalid.body)).toEqual({ reason: "validation_error", field: "first_name" });
      // In the binary format the protobuf decoder itself refuses invalid UTF-8. connect-es
      // answers a message it cannot parse with `internal`, as grpc-go does (the gRPC port
      // says invalid_argument, see src/grpc/adapter.ts): refused, nothing leaked but the parser's words.
      const binary = registerRequestBytes(p.local, p.code, Buffer.from([0x53, 0xc3, 0x28, 0x61]));
      const refused = await post("/identity.v1.AuthService/Register", binary, { "content-type": "application/proto" });
      expect({ status: refused.status, code: refused.body.code }, refused.text).toEqual({ status: 500, code: "internal" });
      expect(refused.body.message).toMatch(/^parse binary: /);
      expect(refused.text).not.toMatch(/\bat \S+ \(|node_modules|\/work\//);
      expect(await userCount()).toBe(before);
      expect((await connectAuth().register({ phone: p.local, code: p.code, firstName: "Sara" })).user?.firstName).toBe("Sara");
    });

    it("ignores unknown fields (connect-es's default for JSON): is_staff, id, __proto__ grant nothing", async () => {
      const p = await pendingSignUp();
      const body = `{"phone":"${p.local}","code":"${p.code}","firstName":"Sara","isStaff":true,"is_staff":true,"id":"${FOREIGN_ID}",
        "userId":"${FOREIGN_ID}","user":{"isStaff":true},"__proto__":{"isStaff":true,"polluted":true},"constructor":{"prototype":{"polluted":true}},
        "deep":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
      const reply = await post("/identity.v1.AuthService/Register", body);
      expect(reply.status).toBe(200);
      const { user, tokens } = reply.body as { user: { id: string; phone: string; isStaff?: boolean }; tokens: { access: string } };
      expect(user.isStaff ?? false).toBe(false);
      expect(user.id).not.toBe(FOREIGN_ID);
      expectNoPrivilegeIn(tokens.access, user);
      expect(await userRow(p.e164)).toMatchObject({ id: user.id, is_staff: false, is_active: true });

      const before = await userRow(p.e164);
      const update = await send("POST", "/identity.v1.AuthService/UpdateProfile", {
        body: `{"firstName":"Nima","id":"${FOREIGN_ID}","phone":"+989121111111","isStaff":true,"is_staff":true,"__proto__":{"lastName":"Evil"}}`,
        headers: { "content-type": "application/json", ...auth(tokens.access) },
      });
      expect(update.status).toBe(200);
      expect(await userRow(p.e164)).toEqual({ ...before, first_name: "Nima" });
      expectPrototypeClean();
    });

    it("refuses a body over 64 KiB and a non-Connect content type, and creates nothing", async () => {
      const before = await userCount();
      const p = await pendingSignUp();
      const big = await send("POST", "/identity.v1.AuthService/Register", { json: { phone: p.local, code: p.code, firstName: "x".repeat(70_000) } });
      // The Connect protocol's own status for resource_exhausted is 429.
      expectConnectRefusal(big, 429, "resource_exhausted");
      for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
        const reply = await post("/identity.v1.AuthService/Register", JSON.stringify({ phone: p.local, code: p.code, firstName: "Sara" }), { "content-type": contentType });
        expect(reply.status, contentType).toBe(415);
        expect(reply.headers["x-content-type-options"]).toBe("nosniff");
      }
      expect(await userCount()).toBe(before);
      await stillServes();
    });
  });

  describe("fast-check properties over /api", () => {
    const BODY_ROUTES: [string, string, string[]][] = [
      ["POST", "/api/send-otp/", ["phone", "purpose"]],
      ["POST", "/api/register/", ["phone", "code", "first_name", "last_name"]],
      ["POST", "/api/login/", ["phone", "code"]],
      ["POST", "/api/token/refresh/", ["refresh"]],
      ["POST", "/api/token/verify/", ["token"]],
      ["POST", "/api/logout/", ["refresh"]],
      ["PATCH", "/api/profile/", ["first_name", "last_name"]],
      ["POST", "/api/logout-all/", []],
    ];
    const EXTRA_KEYS = ["is_staff", "is_superuser", "id", "user_id", "phone", "__proto__", "constructor", "prototype", "toString", "hasOwnProperty"];
    /** Allowed statuses per DESIGN's table; never a 5xx. */
    const STATUSES = new Set([200, 201, 400, 401, 403, 413, 429]);

    /** Object text with chosen keys, `__proto__` and duplicates kept as written. */
    const objectText = (entries: [string, unknown][]) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? "null"}`).join(",")}}`;
    const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string({ unit: "binary", maxLength: 40 }), fc.constantFrom("09121234567", "+989121234567", "123456", "register", "login", ""));
    const bodyFor = (fields: string[]) =>
      fc.oneof(
        fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? "null"),
        fc.array(fc.tuple(fc.constantFrom(...fields, ...EXTRA_KEYS), value), { maxLength: 8 }).map(objectText),
        fc.string({ unit: "binary", maxLength: 60 }),
      );

    function expectWellFormed(reply: Reply, what: string): void {
      expect(STATUSES.has(reply.status), `${what} → ${reply.status} ${reply.text.slice(0, 200)}`).toBe(true);
      expect(reply.headers["x-content-type-options"]).toBe("nosniff");
      expect(reply.headers["cache-control"]).toBe("no-store");
      expect(reply.body).toMatchObject({ success: reply.status < 300, message: expect.any(String), data: expect.any(Object) });
      expect(Object.keys(reply.body).sort()).toEqual(["data", "message", "success"]);
      if (reply.status >= 400) expect(STATUS_OF[reply.body.data.code], `${what}: ${reply.body.data.code}`).toBe(reply.status);
    }

    it("answers arbitrary bodies on every route with a well-formed envelope and a status from DESIGN's table", async () => {
      const { tokens } = await h.signUp(freshPhone().local);
      for (const [method, path, fields] of BODY_ROUTES) {
        await fc.assert(
          fc.asyncProperty(bodyFor(fields), async (body) => {
            // No Bearer for logout-all: arbitrary bodies must not end the session the other routes use.
            const headers = { "content-type": "application/json", ...(path === "/api/logout-all/" ? {} : auth(tokens.access)) };
            expectWellFormed(await send(method, path, { body, headers }), `${method} ${path} ${body.slice(0, 80)}`);
          }),
          { numRuns: 30 },
        );
      }
      expectPrototypeClean();
    });

    it("never lets a profile change touch id, phone or privilege, whatever the body", async () => {
      const { user, tokens } = await h.signUp(freshPhone().local, { first_name: "Sara", last_name: "Ahmadi" });
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom("first_name", "last_name", ...EXTRA_KEYS), value), { maxLength: 6 }), async (entries) => {
          const before = await userRow(user.phone);
          const reply = await send("PATCH", "/api/profile/", { body: objectText(entries), headers: { "content-type": "application/json", ...auth(tokens.access) } });
          expectWellFormed(reply, objectText(entries));
          const after = await userRow(user.phone);
          expect(after).toMatchObject({ id: user.id, phone: user.phone, is_staff: false, is_active: true });
          if (reply.status === 200) {
            expect(Object.keys(reply.body.data.user).sort()).toEqual(USER_FIELDS);
            expect(reply.body.data.user).toMatchObject({ id: user.id, phone: user.phone, is_staff: false, first_name: after!.first_name, last_name: after!.last_name });
          } else {
            expect(after).toEqual(before);
          }
        }),
        { numRuns: 60 },
      );
    });

    it("never lets a registration choose its id, phone or privilege, whatever else the body holds", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom("first_name", "last_name", ...EXTRA_KEYS), value), { maxLength: 6 }), async (entries) => {
          const p = await pendingSignUp();
          const body = objectText([...entries.filter(([k]) => k !== "phone"), ["phone", p.local], ["code", p.code]]);
          const reply = await post("/api/register/", body);
          expectWellFormed(reply, body);
          const row = await userRow(p.e164);
          if (reply.status === 201) {
            const user = reply.body.data.user;
            expect(Object.keys(user).sort()).toEqual(USER_FIELDS);
            expect(user).toMatchObject({ phone: p.e164, is_staff: false });
            expect(user.id).not.toBe(FOREIGN_ID);
            expect(row).toMatchObject({ id: user.id, is_staff: false, is_active: true, first_name: user.first_name, last_name: user.last_name });
            expectNoPrivilegeIn(reply.body.data.tokens.access, user);
          } else {
            expect(reply.body.data.code).toBe("validation_error");
            expect(row).toBeUndefined();
          }
        }),
        { numRuns: 40 },
      );
      expectPrototypeClean();
    });
  });
});

/** A RegisterRequest in protobuf binary, with the first name's bytes as given (valid UTF-8 or not). */
function registerRequestBytes(phone: string, code: string, firstName: Buffer): Buffer {
  return Buffer.concat([lengthDelimited(1, Buffer.from(phone)), lengthDelimited(2, Buffer.from(code)), lengthDelimited(3, firstName)]);
}

function lengthDelimited(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

describe.runIf(realStoresAvailable())("hostile input over raw gRPC", () => {
  let stores: Stores;
  let service: Service;
  let db: pg.Pool;
  let raw: grpc.Client;

  beforeAll(async () => {
    stores = await freshStores("real");
    service = await startService(stores);
    db = new pg.Pool({ connectionString: stores.env.DATABASE_URL, max: 2 });
    raw = new grpc.Client(`127.0.0.1:${service.port}`, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    raw?.close();
    await db?.end();
    await service?.stop();
    await stores?.drop();
  });

  async function userRow(phone: string) {
    const { rows } = await db.query("SELECT id::text, phone, first_name, last_name, is_staff, is_active FROM users WHERE phone = $1", [phone]);
    return rows[0] as { id: string; phone: string; first_name: string; last_name: string; is_staff: boolean; is_active: boolean } | undefined;
  }

  /** A unary call with hand-made request bytes; the status code and the ErrorInfo reason of a failure. */
  function rawCall(path: string, request: Buffer, metadata = new grpc.Metadata()): Promise<{ code: grpc.status; reason?: string; field?: string; response?: Buffer }> {
    return new Promise((resolve) => {
      raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, request, metadata, (error, response) => {
        if (error === null) return resolve({ code: grpc.status.OK, response });
        const details = error.metadata.get("grpc-status-details-bin")[0];
        if (!(details instanceof Buffer)) return resolve({ code: error.code });
        const info = anyUnpack(fromBinary(StatusSchema, details).details[0]!, ErrorInfoSchema);
        resolve({ code: error.code, reason: info?.reason, field: info?.metadata.field });
      });
    });
  }

  async function liveCode(phone: string): Promise<string> {
    await service.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
    return service.sms.codeFor(phone, "register");
  }

  it("refuses control, bidi, zero-width and overlong names with INVALID_ARGUMENT validation_error, storing nothing", async () => {
    const phone = freshPhone().e164;
    const code = await liveCode(phone);
    for (const [why, name] of Object.entries(HOSTILE_NAMES)) {
      const refused = await failure(service.auth.register({ phone, code, firstName: name }));
      expect({ code: refused.code, reason: refused.reason, field: refused.metadata.field }, why).toEqual({ code: Code.InvalidArgument, reason: "validation_error", field: "first_name" });
    }
    expect(await userRow(phone)).toBeUndefined();

    const { tokens } = await registerUser(service, freshPhone().e164);
    const me = await service.auth.getProfile({}, bearer(tokens.access));
    const before = await userRow(me.user!.phone);
    for (const [why, name] of Object.entries(HOSTILE_NAMES)) {
      const refused = await failure(service.auth.updateProfile({ lastName: name }, bearer(tokens.access)));
      expect({ code: refused.code, reason: refused.reason, field: refused.metadata.field }, why).toEqual({ code: Code.InvalidArgument, reason: "validation_error", field: "last_name" });
    }
    expect(await userRow(me.user!.phone)).toEqual(before);

    // The code was never used up, and Persian with half-spaces goes through as sent.
    const created = await service.auth.register({ phone, code, firstName: PERSIAN_150, lastName: "حسین‌زاده" });
    expect(created.user).toMatchObject({ firstName: PERSIAN_150, lastName: "حسین‌زاده", isStaff: false });
    expect((await userRow(phone))?.first_name).toBe(PERSIAN_150);
  });

  it("refuses invalid UTF-8 in a string field and malformed protobuf with INVALID_ARGUMENT validation_error, storing nothing", async () => {
    const phone = freshPhone().e164;
    const code = await liveCode(phone);
    const path = "/identity.v1.AuthService/Register";
    for (const bytes of [[0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff]]) {
      expect(await rawCall(path, registerRequestBytes(phone, code, Buffer.from(bytes)))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, reason: "validation_error" });
    }
    const malformed = {
      "a length past the end": Buffer.from([0x0a, 0xff, 0x01, 0x41]),
      "a string field sent as a varint": Buffer.from([0x08, 0x01]),
      "a truncated varint": Buffer.from([0x08, 0xff, 0xff]),
      "field number 0": Buffer.from([0x02, 0x00]),
      "an unterminated group": Buffer.from([0x7b]),
      "20,000 nested groups": Buffer.concat([Buffer.alloc(20_000, 0x7b), Buffer.alloc(20_000, 0x7c)]),
      "garbage": Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    };
    for (const [why, bytes] of Object.entries(malformed)) {
      expect(await rawCall(path, Buffer.concat([registerRequestBytes(phone, code, Buffer.from("Sara")), bytes])), why).toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        reason: "validation_error",
      });
    }
    expect(await userRow(phone)).toBeUndefined();
    // Valid bytes through the same raw path work, with the code still live.
    expect((await rawCall(path, registerRequestBytes(phone, code, Buffer.from("Sara")))).code).toBe(grpc.status.OK);
    expect((await userRow(phone))?.first_name).toBe("Sara");
  });

  it("ignores unknown fields: a would-be is_staff or id in the message grants nothing", async () => {
    const phone = freshPhone().e164;
    const code = await liveCode(phone);
    // Fields 5–9 do not exist in RegisterRequest: true, an id, a nested message.
    const unknown = Buffer.concat([Buffer.from([0x28, 0x01, 0x30, 0x01]), lengthDelimited(7, Buffer.from(FOREIGN_ID)), lengthDelimited(8, Buffer.from([0x28, 0x01])), lengthDelimited(9, Buffer.from("+989121111111"))]);
    const reply = await rawCall("/identity.v1.AuthService/Register", Buffer.concat([registerRequestBytes(phone, code, Buffer.from("Sara")), unknown]));
    expect(reply.code).toBe(grpc.status.OK);
    const row = await userRow(phone);
    expect(row).toMatchObject({ phone, first_name: "Sara", is_staff: false, is_active: true });
    expect(row!.id).not.toBe(FOREIGN_ID);
    expect(await userRow("+989121111111")).toBeUndefined();

    const { tokens } = await registerUser(service, freshPhone().e164);
    const me = (await service.auth.getProfile({}, bearer(tokens.access))).user!;
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${tokens.access}`);
    // UpdateProfile{first_name: "Nima"} plus fields 3–5 it does not have.
    const update = Buffer.concat([lengthDelimited(1, Buffer.from("Nima")), Buffer.from([0x18, 0x01, 0x20, 0x01]), lengthDelimited(5, Buffer.from(phone))]);
    expect((await rawCall("/identity.v1.AuthService/UpdateProfile", update, metadata)).code).toBe(grpc.status.OK);
    expect(await userRow(me.phone)).toMatchObject({ id: me.id, phone: me.phone, first_name: "Nima", is_staff: false });
  });

  it("refuses a message over the receive limit with RESOURCE_EXHAUSTED, and keeps serving", async () => {
    const phone = freshPhone().e164;
    const code = await liveCode(phone);
    const huge = await failure(service.auth.register({ phone, code, firstName: "x".repeat(1024 * 1024) }));
    expect(huge.code).toBe(Code.ResourceExhausted);
    expect(await userRow(phone)).toBeUndefined();
    const created = await service.auth.register({ phone, code, firstName: "Sara" });
    expect(created.user?.firstName).toBe("Sara");
  });

  it("refuses wrong values where the types are right: an unknown purpose, an empty phone, a huge code", async () => {
    const purpose = await failure(service.auth.sendOtp({ phone: freshPhone().e164, purpose: 99 as OtpPurpose }));
    expect(purpose).toMatchObject({ code: Code.InvalidArgument, reason: "validation_error" });
    expect(await failure(service.auth.sendOtp({ phone: "", purpose: OtpPurpose.REGISTER }))).toMatchObject({ code: Code.InvalidArgument, reason: "validation_error" });
    expect(await failure(service.auth.sendOtp({ phone: "9".repeat(60_000), purpose: OtpPurpose.REGISTER }))).toMatchObject({ code: Code.InvalidArgument, reason: "invalid_phone" });
    expect(await failure(service.auth.login({ phone: freshPhone().e164, code: "9".repeat(60_000) }))).toMatchObject({ code: Code.InvalidArgument, reason: "validation_error" });
    expect(await failure(service.token.refresh({ refresh: "x".repeat(60_000) }))).toMatchObject({ code: Code.Unauthenticated, reason: "token_not_valid" });
  });
});
