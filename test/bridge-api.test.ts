/**
 * The `/api` routes of DESIGN.md over real HTTP, PostgreSQL and Redis: each
 * route's success shape, and every status and reason it can answer.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBridgeHarness, type BridgeHarness, type Session } from "./support/bridge-server.js";
import { realStoresAvailable } from "./support/services.js";
import { freshPhone } from "./support/phones.js";

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

describe.runIf(realStoresAvailable())("/api", () => {
  let h: BridgeHarness;
  // Server time, moved forward by tests that need tokens or sessions to age.
  const clock = { offsetMs: 0, now: () => Date.now() + clock.offsetMs };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    h = await startBridgeHarness({ env: { SESSION_MAX_LIFETIME: "2h" }, build: { clock } });
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(() => {
    clock.offsetMs = 0;
    h.inbox.failWith(200);
  });

  function expectRefusal(answer: { status: number; body: { success: boolean; message: string; data: { code: string } } }, status: number, code: string): void {
    expect({ status: answer.status, code: answer.body.data.code, success: answer.body.success }).toEqual({ status, code, success: false });
    expect(answer.body.message).toBeTypeOf("string");
    expect(answer.body.message).not.toBe("");
  }

  describe("POST /api/send-otp/", () => {
    it("sends a code to the phone in E.164 and says how long it lives and when to ask again", async () => {
      const phone = freshPhone();
      const answer = await h.request("POST", "/api/send-otp/", { json: { phone: phone.local, purpose: "register" } });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ success: true, message: expect.any(String), data: { expires_in: 120, resend_after: 60, code_length: 6 } });
      const sms = h.inbox.received.findLast((m) => m.to === phone.e164);
      expect(sms).toMatchObject({ to: phone.e164, purpose: "register", code: expect.stringMatching(/^\d{6}$/) });
    });

    it("refuses another code within the resend interval with 429 rate_limited and Retry-After", async () => {
      const phone = freshPhone().local;
      await h.codeFor(phone, "register");
      const again = await h.request("POST", "/api/send-otp/", { json: { phone, purpose: "register" } });
      expectRefusal(again, 429, "rate_limited");
      const retryAfter = Number(again.headers.get("retry-after"));
      expect(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60).toBe(true);
    });

    it("refuses a number that is not a mobile number with 400 invalid_phone", async () => {
      expectRefusal(await h.request("POST", "/api/send-otp/", { json: { phone: "12345", purpose: "login" } }), 400, "invalid_phone");
    });

    it("refuses a purpose other than register or login with 400 validation_error", async () => {
      const answer = await h.request("POST", "/api/send-otp/", { json: { phone: freshPhone().local, purpose: "signup" } });
      expectRefusal(answer, 400, "validation_error");
      expect(answer.body.data.field).toBe("purpose");
    });

    it("refuses a missing or mistyped field with 400 validation_error", async () => {
      expectRefusal(await h.request("POST", "/api/send-otp/", { json: { purpose: "login" } }), 400, "validation_error");
      expectRefusal(await h.request("POST", "/api/send-otp/", { json: { phone: 9123456789, purpose: "login" } }), 400, "validation_error");
    });

    it("refuses a register code for a registered phone with 400 phone_already_registered, before any SMS", async () => {
      const { user } = await h.signUp();
      const before = h.inbox.received.length;
      expectRefusal(await h.request("POST", "/api/send-otp/", { json: { phone: user.phone, purpose: "register" } }), 400, "phone_already_registered");
      expect(h.inbox.received.length).toBe(before);
    });

    it("refuses a login code for an unknown phone with 400 phone_not_registered, before any SMS", async () => {
      const before = h.inbox.received.length;
      expectRefusal(await h.request("POST", "/api/send-otp/", { json: { phone: freshPhone().local, purpose: "login" } }), 400, "phone_not_registered");
      expect(h.inbox.received.length).toBe(before);
    });

    it("answers 503 sms_unavailable when the SMS provider fails", async () => {
      h.inbox.failWith(500);
      expectRefusal(await h.request("POST", "/api/send-otp/", { json: { phone: freshPhone().local, purpose: "register" } }), 503, "sms_unavailable");
    });
  });

  describe("POST /api/register/", () => {
    it("creates the user and answers 201 {user, tokens} in DESIGN's shapes, not cacheable", async () => {
      const phone = freshPhone();
      const code = await h.codeFor(phone.local, "register");
      const answer = await h.request("POST", "/api/register/", { json: { phone: phone.local, code, first_name: "Sara", last_name: "Ahmadi" } });
      expect(answer.status).toBe(201);
      expect(answer.headers.get("cache-control")).toContain("no-store");
      const { user, tokens } = answer.body.data;
      expect(Object.keys(user).sort()).toEqual(["date_joined", "first_name", "id", "is_staff", "last_login", "last_name", "phone"]);
      expect(user).toMatchObject({ phone: phone.e164, first_name: "Sara", last_name: "Ahmadi", is_staff: false });
      expect(user.date_joined).toMatch(ISO);
      expect(Object.keys(tokens).sort()).toEqual(["access", "access_expires_at", "refresh", "refresh_expires_at"]);
      expect(tokens.access_expires_at).toMatch(ISO);
      expect(tokens.refresh_expires_at).toMatch(ISO);
    });

    it("refuses a wrong code while a live one exists with 400 otp_invalid, and the right one still works", async () => {
      const phone = freshPhone().local;
      const code = await h.codeFor(phone, "register");
      const wrong = code === "000000" ? "111111" : "000000";
      expectRefusal(await h.request("POST", "/api/register/", { json: { phone, code: wrong } }), 400, "otp_invalid");
      expect((await h.request("POST", "/api/register/", { json: { phone, code } })).status).toBe(201);
    });

    it("refuses a code when none was sent, and a used one, with 400 otp_expired", async () => {
      const phone = freshPhone().local;
      expectRefusal(await h.request("POST", "/api/register/", { json: { phone, code: "123456" } }), 400, "otp_expired");
      const code = await h.codeFor(phone, "register");
      expect((await h.request("POST", "/api/register/", { json: { phone, code } })).status).toBe(201);
      expectRefusal(await h.request("POST", "/api/login/", { json: { phone, code } }), 400, "otp_expired");
    });

    it("answers 429 otp_attempts_exceeded on the try that reaches the cap and every later one, with Retry-After", async () => {
      const phone = freshPhone().local;
      const code = await h.codeFor(phone, "register");
      const wrong = code === "000000" ? "111111" : "000000";
      for (let i = 1; i < h.config.otp.maxAttempts; i++) {
        expectRefusal(await h.request("POST", "/api/register/", { json: { phone, code: wrong } }), 400, "otp_invalid");
      }
      const capped = await h.request("POST", "/api/register/", { json: { phone, code: wrong } });
      expectRefusal(capped, 429, "otp_attempts_exceeded");
      expect(Number(capped.headers.get("retry-after"))).toBeGreaterThan(0);
      expectRefusal(await h.request("POST", "/api/register/", { json: { phone, code } }), 429, "otp_attempts_exceeded");
    });

    it("refuses mistyped fields with 400 validation_error naming the field", async () => {
      const answer = await h.request("POST", "/api/register/", { json: { phone: freshPhone().local, code: 123456 } });
      expectRefusal(answer, 400, "validation_error");
      expect(answer.body.data.field).toBe("code");
      expectRefusal(await h.request("POST", "/api/register/", { json: { phone: freshPhone().local, code: "123456", first_name: ["x"] } }), 400, "validation_error");
    });
  });

  describe("POST /api/login/", () => {
    it("starts a session and answers 200 {user, tokens}", async () => {
      const { user } = await h.signUp();
      const code = await h.codeFor(user.phone, "login");
      const answer = await h.request("POST", "/api/login/", { json: { phone: user.phone, code } });
      expect(answer.status).toBe(200);
      expect(answer.headers.get("cache-control")).toContain("no-store");
      expect(answer.body.data.user).toMatchObject({ id: user.id, phone: user.phone });
      expect(answer.body.data.user.last_login).toMatch(ISO);
      expect(answer.body.data.tokens.access).toBeTypeOf("string");
    });

    it("refuses a wrong code with 400 otp_invalid and a missing one with 400 otp_expired", async () => {
      const { user } = await h.signUp();
      expectRefusal(await h.request("POST", "/api/login/", { json: { phone: user.phone, code: "123456" } }), 400, "otp_expired");
      const code = await h.codeFor(user.phone, "login");
      expectRefusal(await h.request("POST", "/api/login/", { json: { phone: user.phone, code: code === "000000" ? "111111" : "000000" } }), 400, "otp_invalid");
    });

    it("refuses a code for another phone", async () => {
      const a = await h.signUp();
      const b = await h.signUp();
      const code = await h.codeFor(a.user.phone, "login");
      expectRefusal(await h.request("POST", "/api/login/", { json: { phone: b.user.phone, code } }), 400, "otp_expired");
    });
  });

  describe("POST /api/token/refresh/", () => {
    it("answers 200 with a new pair (flat), not cacheable, and the new access token works", async () => {
      const { tokens } = await h.signUp();
      const answer = await h.request("POST", "/api/token/refresh/", { json: { refresh: tokens.refresh } });
      expect(answer.status).toBe(200);
      expect(answer.headers.get("cache-control")).toContain("no-store");
      expect(Object.keys(answer.body.data).sort()).toEqual(["access", "access_expires_at", "refresh", "refresh_expires_at"]);
      expect(answer.body.data.refresh).not.toBe(tokens.refresh);
      expect((await h.request("GET", "/api/dashboard/", { headers: bearer(answer.body.data.access) })).status).toBe(200);
    });

    it("gives a rotated token presented again within the grace interval the same successor", async () => {
      const { tokens } = await h.signUp();
      const first = await h.request("POST", "/api/token/refresh/", { json: { refresh: tokens.refresh } });
      const again = await h.request("POST", "/api/token/refresh/", { json: { refresh: tokens.refresh } });
      expect(again.status).toBe(200);
      // The same token (ECDSA signatures differ from one signing to the next).
      expect(decodeJwt(again.body.data.refresh).jti).toBe(decodeJwt(first.body.data.refresh).jti);
    });

    it("treats a rotated token presented after the grace interval as theft: 403 token_blacklisted, session revoked", async () => {
      const { tokens } = await h.signUp();
      const rotated = await h.request("POST", "/api/token/refresh/", { json: { refresh: tokens.refresh } });
      clock.offsetMs = h.config.tokens.refreshReuseIntervalMs + 2_000;
      expectRefusal(await h.request("POST", "/api/token/refresh/", { json: { refresh: tokens.refresh } }), 403, "token_blacklisted");
      expectRefusal(await h.request("GET", "/api/dashboard/", { headers: bearer(rotated.body.data.access) }), 403, "session_revoked");
    });

    it("refuses an access token with 401 token_wrong_type and garbage with 401 token_not_valid", async () => {
      const { tokens } = await h.signUp();
      expectRefusal(await h.request("POST", "/api/token/refresh/", { json: { refresh: tokens.access } }), 401, "token_wrong_type");
      expectRefusal(await h.request("POST", "/api/token/refresh/", { json: { refresh: "not.a.token" } }), 401, "token_not_valid");
    });

    it("refuses a session past SESSION_MAX_LIFETIME with 401 session_expired", async () => {
      const { tokens } = await h.signUp();
      clock.offsetMs = 2 * 3_600_000 + 60_000;
      expectRefusal(await h.request("POST", "/api/token/refresh/", { json: { refresh: tokens.refresh } }), 401, "session_expired");
    });

    it("refuses a refresh token of a logged-out session with 403", async () => {
      const { tokens } = await h.signUp();
      await h.request("POST", "/api/logout/", { json: { refresh: tokens.refresh } });
      const answer = await h.request("POST", "/api/token/refresh/", { json: { refresh: tokens.refresh } });
      expect(answer.status).toBe(403);
      expect(["session_revoked", "token_blacklisted"]).toContain(answer.body.data.code);
    });

    it("refuses a body without refresh with 400 validation_error", async () => {
      expectRefusal(await h.request("POST", "/api/token/refresh/", { json: {} }), 400, "validation_error");
    });
  });

  describe("POST /api/token/verify/", () => {
    it("answers 200 {valid, token_type, expires_at, user} for a live access token", async () => {
      const { user, tokens } = await h.signUp(undefined, { first_name: "Reza", last_name: "Karimi" });
      const answer = await h.request("POST", "/api/token/verify/", { json: { token: tokens.access } });
      expect(answer.status).toBe(200);
      expect(answer.body.data).toEqual({
        valid: true,
        token_type: "access",
        expires_at: tokens.access_expires_at,
        user: { id: user.id, phone: user.phone, first_name: "Reza", last_name: "Karimi", is_staff: false },
      });
    });

    it("answers 401 token_wrong_type for a refresh token", async () => {
      const { tokens } = await h.signUp();
      expectRefusal(await h.request("POST", "/api/token/verify/", { json: { token: tokens.refresh } }), 401, "token_wrong_type");
    });

    it("answers 401 token_expired for an expired access token and 401 token_not_valid for garbage", async () => {
      const { tokens } = await h.signUp();
      clock.offsetMs = h.config.tokens.accessLifetimeMs + 1_000;
      expectRefusal(await h.request("POST", "/api/token/verify/", { json: { token: tokens.access } }), 401, "token_expired");
      expectRefusal(await h.request("POST", "/api/token/verify/", { json: { token: "garbage" } }), 401, "token_not_valid");
    });

    it("answers 403 session_revoked for an access token of a logged-out session", async () => {
      const { tokens } = await h.signUp();
      await h.request("POST", "/api/logout/", { json: { refresh: tokens.refresh } });
      expectRefusal(await h.request("POST", "/api/token/verify/", { json: { token: tokens.access } }), 403, "session_revoked");
    });

    it("refuses a body without token with 400 validation_error", async () => {
      expectRefusal(await h.request("POST", "/api/token/verify/", { json: { token: null } }), 400, "validation_error");
    });
  });

  describe("POST /api/logout/", () => {
    it("ends the session without a Bearer token: its access and refresh tokens stop working", async () => {
      const { tokens } = await h.signUp();
      const answer = await h.request("POST", "/api/logout/", { json: { refresh: tokens.refresh } });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ success: true, message: expect.any(String), data: {} });
      expectRefusal(await h.request("GET", "/api/dashboard/", { headers: bearer(tokens.access) }), 403, "session_revoked");
    });

    it("refuses a second logout of the same session with 403 token_blacklisted", async () => {
      const { tokens } = await h.signUp();
      await h.request("POST", "/api/logout/", { json: { refresh: tokens.refresh } });
      expectRefusal(await h.request("POST", "/api/logout/", { json: { refresh: tokens.refresh } }), 403, "token_blacklisted");
    });

    it("refuses garbage with 401 token_not_valid and no refresh with 400 validation_error", async () => {
      expectRefusal(await h.request("POST", "/api/logout/", { json: { refresh: "x.y.z" } }), 401, "token_not_valid");
      expectRefusal(await h.request("POST", "/api/logout/", { json: {} }), 400, "validation_error");
    });
  });

  describe("POST /api/logout-all/", () => {
    it("ends every session of the user and counts them", async () => {
      const first = await h.signUp();
      const second = await h.logIn(first.user.phone);
      const answer = await h.request("POST", "/api/logout-all/", { headers: bearer(second.tokens.access) });
      expect(answer.status).toBe(200);
      expect(answer.body.data).toEqual({ revoked: 2 });
      expect(answer.headers.get("x-authenticated")).toBe("true");
      expectRefusal(await h.request("GET", "/api/dashboard/", { headers: bearer(first.tokens.access) }), 403, "session_revoked");
      expectRefusal(await h.request("POST", "/api/token/refresh/", { json: { refresh: first.tokens.refresh } }), 403, "session_revoked");
    });

    it("needs a Bearer token: 401 not_authenticated", async () => {
      expectRefusal(await h.request("POST", "/api/logout-all/"), 401, "not_authenticated");
    });
  });

  describe("GET /api/dashboard/", () => {
    it("answers 200 {user} with X-Authenticated and X-Token-Expires-At (unix seconds of the token's exp)", async () => {
      const { user, tokens } = await h.signUp();
      const answer = await h.request("GET", "/api/dashboard/", { headers: bearer(tokens.access) });
      expect(answer.status).toBe(200);
      expect(answer.body.data.user).toMatchObject({ id: user.id, phone: user.phone });
      expect(answer.headers.get("x-authenticated")).toBe("true");
      expect(Number(answer.headers.get("x-token-expires-at")) * 1000).toBe(Date.parse(tokens.access_expires_at));
    });

    it("refuses no token (not_authenticated), garbage (token_not_valid), a refresh token (token_wrong_type), all 401", async () => {
      const { tokens } = await h.signUp();
      expectRefusal(await h.request("GET", "/api/dashboard/"), 401, "not_authenticated");
      expectRefusal(await h.request("GET", "/api/dashboard/", { headers: bearer("abc") }), 401, "token_not_valid");
      expectRefusal(await h.request("GET", "/api/dashboard/", { headers: bearer(tokens.refresh) }), 401, "token_wrong_type");
      const notAuthenticated = await h.request("GET", "/api/dashboard/");
      expect(notAuthenticated.headers.get("x-authenticated")).toBeNull();
    });

    it("refuses an expired access token with 401 token_expired", async () => {
      const { tokens } = await h.signUp();
      clock.offsetMs = h.config.tokens.accessLifetimeMs + 1_000;
      expectRefusal(await h.request("GET", "/api/dashboard/", { headers: bearer(tokens.access) }), 401, "token_expired");
    });
  });

  describe("PATCH /api/profile/", () => {
    it("changes only the fields sent and answers 200 {user}", async () => {
      const { tokens } = await h.signUp(undefined, { first_name: "Sara", last_name: "Ahmadi" });
      const answer = await h.request("PATCH", "/api/profile/", { json: { last_name: "Rahimi" }, headers: bearer(tokens.access) });
      expect(answer.status).toBe(200);
      expect(answer.body.data.user).toMatchObject({ first_name: "Sara", last_name: "Rahimi" });
      expect(answer.headers.get("x-authenticated")).toBe("true");
    });

    it("refuses mistyped names with 400 validation_error, and needs a Bearer token", async () => {
      const { tokens } = await h.signUp();
      expectRefusal(await h.request("PATCH", "/api/profile/", { json: { first_name: 7 }, headers: bearer(tokens.access) }), 400, "validation_error");
      expectRefusal(await h.request("PATCH", "/api/profile/", { json: { first_name: "x".repeat(151) }, headers: bearer(tokens.access) }), 400, "validation_error");
      expectRefusal(await h.request("PATCH", "/api/profile/", { json: { first_name: "A" } }), 401, "not_authenticated");
    });
  });

  describe("JWKS", () => {
    it("answers a bare JWKS at /api/jwks/ and /.well-known/jwks.json that verifies issued tokens", async () => {
      const session: Session = await h.signUp();
      for (const path of ["/api/jwks/", "/.well-known/jwks.json"]) {
        const answer = await h.request("GET", path);
        expect(answer.status).toBe(200);
        expect(answer.body).not.toHaveProperty("success");
        expect(answer.body.keys[0]).toMatchObject({ kty: "EC", alg: "ES256", use: "sig", crv: "P-256" });
        const { payload } = await jwtVerify(session.tokens.access, createLocalJWKSet(answer.body));
        expect(payload.sub).toBe(session.user.id);
      }
    });
  });
});

describe.runIf(realStoresAvailable())("/api with ENUMERATION_PROTECTION=true and PHONE_ALLOWED_REGIONS=IR", () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness({ env: { ENUMERATION_PROTECTION: "true", PHONE_ALLOWED_REGIONS: "IR", OTP_RESEND_INTERVAL: "0s" } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("answers send-otp with the same 200 body for registered and unknown numbers, and says which only after the code", async () => {
    const { user } = await h.signUp();
    const unknown = freshPhone();
    const bodies = [];
    for (const [phone, purpose] of [[user.phone, "register"], [unknown.local, "login"]] as const) {
      const answer = await h.request("POST", "/api/send-otp/", { json: { phone, purpose } });
      expect(answer.status).toBe(200);
      bodies.push(JSON.stringify(answer.body));
    }
    expect(bodies[0]).toBe(bodies[1]);
    const taken = await h.request("POST", "/api/register/", { json: { phone: user.phone, code: h.inbox.codeFor(user.phone, "register"), first_name: "X", last_name: "Y" } });
    expect({ status: taken.status, code: taken.body.data.code }).toEqual({ status: 400, code: "phone_already_registered" });
    const missing = await h.request("POST", "/api/login/", { json: { phone: unknown.local, code: h.inbox.codeFor(unknown.e164, "login") } });
    expect({ status: missing.status, code: missing.body.data.code }).toEqual({ status: 400, code: "phone_not_registered" });
  });

  it("refuses a mobile outside the allowed regions with 400 invalid_phone before any SMS", async () => {
    const before = h.inbox.received.length;
    const answer = await h.request("POST", "/api/send-otp/", { json: { phone: "+971 50 123 4567", purpose: "register" } });
    expect({ status: answer.status, code: answer.body.data.code }).toEqual({ status: 400, code: "invalid_phone" });
    expect(h.inbox.received.length).toBe(before);
  });
});
