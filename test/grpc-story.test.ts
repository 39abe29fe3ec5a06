/**
 * The whole story through a real gRPC client, on real PostgreSQL + Redis and on the
 * embedded default: register → login → profile → refresh → logout → logout-all.
 */
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, failure, loginUser, OtpPurpose, registerUser, startService, freshStores, type Service, type Stores, type StoreMode } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { jwtPayload } from "./support/tools.js";
import { freshPhone } from "./support/phones.js";

const modes: StoreMode[] = realStoresAvailable() ? ["real", "embedded"] : ["embedded"];
const HOUR_S = 3600;
const WEEK_S = 7 * 24 * HOUR_S;

/** A Timestamp in milliseconds; a missing one fails the test. */
function ms(timestamp: Timestamp | undefined): number {
  expect(timestamp).toBeDefined();
  return timestampMs(timestamp!);
}

/** The token's `iat` and `exp` claims, in seconds. */
function times(token: string): { iat: number; exp: number } {
  const { iat, exp } = jwtPayload(token) as { iat: number; exp: number };
  return { iat, exp };
}

describe.each(modes)("the identity story over gRPC (%s stores)", (mode) => {
  let stores: Stores;
  let service: Service;

  beforeAll(async () => {
    stores = await freshStores(mode);
    service = await startService(stores);
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  it("registers a phone with a code sent by SMS and returns the user and a token pair", async () => {
    const startedMs = Date.now();
    const phone = freshPhone().e164;
    const sent = await service.auth.sendOtp({ phone: phone.replace("+98", "0"), purpose: OtpPurpose.REGISTER });
    expect(sent.expiresIn).toBe(120);
    expect(sent.resendAfter).toBe(0);
    expect(sent.codeLength).toBe(6);
    const sms = service.sms.received.at(-1)!;
    expect(sms).toMatchObject({ to: phone, purpose: "register" });
    expect(sms.code).toMatch(/^\d{6}$/);
    expect(sms.message).toContain(sms.code);

    const { user, tokens } = await service.auth.register({ phone, code: sms.code, firstName: "Sara", lastName: "Ahmadi" });
    const endedMs = Date.now();
    expect(user).toMatchObject({ phone, firstName: "Sara", lastName: "Ahmadi", isStaff: false });
    expect(user!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(tokens!.access.split(".")).toHaveLength(3);
    expect(tokens!.refresh).not.toBe(tokens!.access);
    // Joined during this call, and logged in at that same instant (the first session's start, the tokens' iat).
    const joined = ms(user!.dateJoined);
    expect(joined).toBeGreaterThanOrEqual(startedMs);
    expect(joined).toBeLessThanOrEqual(endedMs);
    expect(ms(user!.lastLogin)).toBe(joined);
    const access = times(tokens!.access);
    const refresh = times(tokens!.refresh);
    expect(access.iat).toBe(Math.floor(joined / 1000));
    expect(refresh.iat).toBe(access.iat);
    // Each expiry is its token's exp, a lifetime (60 m, 7 d by default) after issue.
    expect(Number(tokens!.accessExpiresAt!.seconds)).toBe(access.exp);
    expect(Number(tokens!.refreshExpiresAt!.seconds)).toBe(refresh.exp);
    expect(access.exp - access.iat).toBe(HOUR_S);
    expect(refresh.exp - refresh.iat).toBe(WEEK_S);
    const accessExpiry = Number(tokens!.accessExpiresAt!.seconds) * 1000;
    expect(accessExpiry - Date.now()).toBeGreaterThan(59 * 60_000);
    expect(accessExpiry - Date.now()).toBeLessThanOrEqual(60 * 60_000);
  });

  it("verifies an access token with the user from its claims", async () => {
    const { user, tokens } = await registerUser(service);
    const verified = await service.token.verify({ token: tokens.access });
    expect(verified.valid).toBe(true);
    expect(verified.tokenType).toBe("access");
    expect(verified.reason).toBe("");
    expect(verified.user).toMatchObject({ id: user.id, phone: user.phone, firstName: "Sara", lastName: "Ahmadi", isStaff: false });
    expect(verified.expiresAt!.seconds).toBe(tokens.accessExpiresAt!.seconds);
    expect(Number(verified.expiresAt!.seconds)).toBe(times(tokens.access).exp);
  });

  it("refuses a refresh token presented as an access token", async () => {
    const { tokens } = await registerUser(service);
    const verified = await service.token.verify({ token: tokens.refresh });
    expect(verified).toMatchObject({ valid: false, reason: "token_wrong_type" });
    expect(verified.user).toBeUndefined();
    expect(await failure(service.auth.getProfile({}, bearer(tokens.refresh)))).toMatchObject({ code: Code.Unauthenticated, reason: "token_wrong_type" });
  });

  it("answers garbage tokens with valid=false and token_not_valid", async () => {
    for (const token of ["", "abc", "a.b.c", `${"x".repeat(9000)}`]) {
      expect(await service.token.verify({ token })).toMatchObject({ valid: false, reason: "token_not_valid" });
    }
  });

  it("logs in with a login code and serves the profile to the Bearer", async () => {
    const { phone, user } = await registerUser(service);
    const startedMs = Date.now();
    const { tokens, user: again } = await loginUser(service, phone);
    const endedMs = Date.now();
    // The login moved last_login to its own instant (its session's start), not date_joined.
    expect(again.dateJoined).toEqual(user.dateJoined);
    const lastLogin = ms(again.lastLogin);
    expect(lastLogin).toBeGreaterThanOrEqual(startedMs);
    expect(lastLogin).toBeLessThanOrEqual(endedMs);
    expect(lastLogin).toBeGreaterThanOrEqual(ms(user.lastLogin));
    expect(times(tokens.access).iat).toBe(Math.floor(lastLogin / 1000));
    expect(Number(tokens.accessExpiresAt!.seconds)).toBe(times(tokens.access).exp);
    let headers: Headers | undefined;
    const profile = await service.auth.getProfile({}, { ...bearer(tokens.access), onHeader: (h) => (headers = h) });
    expect(profile.user).toMatchObject({ id: user.id, phone });
    expect(headers?.get("x-authenticated")).toBe("true");
    const exp = JSON.parse(Buffer.from(tokens.access.split(".")[1]!, "base64url").toString()).exp as number;
    expect(headers?.get("x-token-expires-at")).toBe(String(exp));
  });

  it("refuses authenticated calls without a token", async () => {
    expect(await failure(service.auth.getProfile({}))).toMatchObject({ code: Code.Unauthenticated, reason: "not_authenticated" });
    expect(await failure(service.auth.logoutAll({}, { headers: { authorization: "Basic abc" } }))).toMatchObject({ reason: "not_authenticated" });
  });

  it("updates only the names that are set", async () => {
    const { tokens } = await registerUser(service);
    const first = await service.auth.updateProfile({ firstName: "Maryam" }, bearer(tokens.access));
    expect(first.user).toMatchObject({ firstName: "Maryam", lastName: "Ahmadi" });
    const second = await service.auth.updateProfile({ lastName: "" }, bearer(tokens.access));
    expect(second.user).toMatchObject({ firstName: "Maryam", lastName: "" });
    expect((await failure(service.auth.updateProfile({ firstName: "x".repeat(151) }, bearer(tokens.access))))).toMatchObject({ code: Code.InvalidArgument, reason: "validation_error" });
    expect((await failure(service.auth.updateProfile({ firstName: "a\u202Eb" }, bearer(tokens.access))))).toMatchObject({ reason: "validation_error" });
    expect((await service.auth.getProfile({}, bearer(tokens.access))).user).toMatchObject({ firstName: "Maryam", lastName: "" });
  });

  it("rotates the refresh token, blacklisting the old one", async () => {
    const { tokens } = await registerUser(service);
    const { tokens: next } = await service.token.refresh({ refresh: tokens.refresh });
    expect(next!.refresh).not.toBe(tokens.refresh);
    // The new pair's expiries are its own tokens' exp.
    expect(Number(next!.accessExpiresAt!.seconds)).toBe(times(next!.access).exp);
    expect(Number(next!.refreshExpiresAt!.seconds)).toBe(times(next!.refresh).exp);
    expect(next!.access).not.toBe(tokens.access);
    expect((await service.token.verify({ token: next!.access })).valid).toBe(true);
    // The old access token stays valid until it expires: its session lives on.
    expect((await service.token.verify({ token: tokens.access })).valid).toBe(true);
    const { tokens: after } = await service.token.refresh({ refresh: next!.refresh });
    expect(after!.refresh).not.toBe(next!.refresh);
  });

  it("logout ends the session: its access tokens fail at once, its refresh token too", async () => {
    const { tokens } = await registerUser(service);
    await service.auth.logout({ refresh: tokens.refresh });
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await failure(service.auth.getProfile({}, bearer(tokens.access)))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    expect(await failure(service.token.refresh({ refresh: tokens.refresh }))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    expect(await failure(service.auth.logout({ refresh: tokens.refresh }))).toMatchObject({ code: Code.PermissionDenied, reason: "token_blacklisted" });
  });

  it("logout-all ends every session of the user and counts them, and no other user's", async () => {
    const { phone, tokens: first } = await registerUser(service);
    const { tokens: second } = await loginUser(service, phone);
    const { tokens: third } = await loginUser(service, phone);
    const other = await registerUser(service);
    const { revoked } = await service.auth.logoutAll({}, bearer(second.access));
    expect(revoked).toBe(3);
    for (const t of [first, second, third]) {
      expect(await service.token.verify({ token: t.access })).toMatchObject({ valid: false, reason: "session_revoked" });
      expect(await failure(service.token.refresh({ refresh: t.refresh }))).toMatchObject({ reason: "session_revoked" });
    }
    expect((await service.token.verify({ token: other.tokens.access })).valid).toBe(true);
    // A login after logout-all starts a live session.
    const { tokens: fresh } = await loginUser(service, phone);
    expect((await service.token.verify({ token: fresh.access })).valid).toBe(true);
  });

  it("introspects both token types in the RFC 7662 shape", async () => {
    const { user, tokens } = await registerUser(service);
    const access = await service.token.introspect({ token: tokens.access });
    expect(access).toMatchObject({ active: true, sub: user.id, tokenType: "access", username: user.phone });
    expect(access.exp).toBe(tokens.accessExpiresAt!.seconds);
    expect(access.iat).toBe(BigInt(times(tokens.access).iat));
    expect(access.exp - access.iat).toBe(BigInt(HOUR_S));
    expect(access.jti).not.toBe("");
    const refresh = await service.token.introspect({ token: tokens.refresh, tokenTypeHint: "refresh_token" });
    expect(refresh).toMatchObject({ active: true, tokenType: "refresh", sid: access.sid });
    expect(refresh.exp).toBe(tokens.refreshExpiresAt!.seconds);
    expect(refresh.iat).toBe(access.iat);
    await service.token.refresh({ refresh: tokens.refresh });
    const rotated = await service.token.introspect({ token: tokens.refresh });
    expect(rotated.active).toBe(false);
    expect(rotated.sub).toBe("");
    expect(await service.token.introspect({ token: "nonsense" })).toMatchObject({ active: false, sub: "", exp: 0n });
  });

  it("publishes the public key that verifies its tokens", async () => {
    const { keys } = await service.token.getJwks({});
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    const { tokens } = await registerUser(service);
    const header = JSON.parse(Buffer.from(tokens.access.split(".")[0]!, "base64url").toString()) as { kid: string; alg: string };
    expect(header).toMatchObject({ alg: "ES256", kid: keys[0]!.kid });
    const { importJWK, jwtVerify } = await import("jose");
    const key = await importJWK({ kty: "EC", crv: "P-256", x: keys[0]!.x, y: keys[0]!.y }, "ES256");
    const { payload } = await jwtVerify(tokens.access, key);
    expect(payload).toMatchObject({ token_type: "access", first_name: "Sara", is_staff: false });
    expect(payload.sub).toBe(payload.user_id);
    expect(typeof payload.sid).toBe("string");
  });

  it("refuses send-otp for the wrong purpose before any SMS", async () => {
    const { phone } = await registerUser(service);
    const before = service.sms.received.length;
    expect(await failure(service.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER }))).toMatchObject({ code: Code.FailedPrecondition, reason: "phone_already_registered" });
    expect(await failure(service.auth.sendOtp({ phone: freshPhone().e164, purpose: OtpPurpose.LOGIN }))).toMatchObject({ code: Code.FailedPrecondition, reason: "phone_not_registered" });
    expect(await failure(service.auth.sendOtp({ phone: "12345", purpose: OtpPurpose.LOGIN }))).toMatchObject({ code: Code.InvalidArgument, reason: "invalid_phone" });
    expect(await failure(service.auth.sendOtp({ phone: freshPhone().e164, purpose: OtpPurpose.UNSPECIFIED }))).toMatchObject({ code: Code.InvalidArgument, reason: "validation_error" });
    expect(service.sms.received.length).toBe(before);
  });
});
