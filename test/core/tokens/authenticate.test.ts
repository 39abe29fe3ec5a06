/**
 * Reading a token as configured, and the caller behind an access token: a bad
 * token is an answer (verifyAccess) or a refusal (authenticateAccess), a store that
 * cannot say throws, and the verified-token cache answers only until `exp`.
 */
import { describe, expect, it } from "vitest";
import { AppError, UnavailableError } from "../../../src/core/errors.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { logout } from "../../../src/core/sessions/revoke.js";
import { authenticateAccess, checkToken, readToken, verifyAccess } from "../../../src/core/tokens/authenticate.js";
import { createKeyRing } from "../../../src/core/tokens/keys.js";
import { split } from "../../support/forge.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { debugLog, refusal, signIn } from "../support/token-lab.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The database stops answering the read-through (the cache is cold on a first call). */
function databaseDown(lab: CoreLab): void {
  lab.stores.sessions.snapshot = () => Promise.reject(new UnavailableError("database", "connection refused"));
}

describe("authenticateAccess", () => {
  it("is the user, session, claims and expiry of a live session's access token", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signIn(lab);
    const claims = split(tokens.access).payload;
    const caller = await authenticateAccess(lab.deps, tokens.access);
    expect(caller).toEqual({
      user: { id: user.id, phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: false },
      sessionId: claims.sid,
      claims,
      expiresAt: new Date(lab.clock.now() + HOUR),
    });
    expect(caller.expiresAt).toEqual(tokens.accessExpiresAt);
  });

  it("refuses a bad token, a refresh token and a token of an ended session, with their reasons", async () => {
    const lab = await coreLab();
    const { tokens } = await signIn(lab);
    expect(await refusal(authenticateAccess(lab.deps, "not.a.token"))).toMatchObject({ reason: "token_not_valid" });
    expect(await refusal(authenticateAccess(lab.deps, tokens.refresh))).toEqual({ reason: "token_wrong_type", message: "token_type is not access" });
    await logout(lab.deps, tokens.refresh);
    expect(await refusal(authenticateAccess(lab.deps, tokens.access))).toEqual({ reason: "session_revoked", message: "session_revoked" });
  });

  it("refuses the token of an inactive user's session", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signIn(lab);
    lab.stores.admin.setActive(user.id, false);
    expect(await refusal(authenticateAccess(lab.deps, tokens.access))).toMatchObject({ reason: "session_revoked" });
  });

  it("refuses with session_expired once the session's cap has passed, within the leeway of the token", async () => {
    const lab = await coreLab({ env: { ACCESS_TOKEN_LIFETIME: "10m", SESSION_MAX_LIFETIME: "15m", JWT_LEEWAY: "30s" } });
    const start = lab.clock.now();
    const { tokens } = await signIn(lab);
    lab.clock.advance(10 * MINUTE);
    // The access token never outlives the session: it expires with it.
    const late = await refreshSession(lab.deps, tokens.refresh);
    expect(late.accessExpiresAt).toEqual(new Date(start + 15 * MINUTE));
    lab.clock.set(start + 15 * MINUTE + 10_000);
    expect(await refusal(authenticateAccess(lab.deps, late.access))).toMatchObject({ reason: "session_expired" });
    lab.clock.advance(30_000);
    expect(await refusal(authenticateAccess(lab.deps, late.access))).toMatchObject({ reason: "token_expired" });
  });
});

describe("verifyAccess", () => {
  it("answers valid with the user, claims and expiry", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signIn(lab);
    expect(await verifyAccess(lab.deps, tokens.access)).toEqual({
      valid: true,
      user: { id: user.id, phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: false },
      claims: split(tokens.access).payload,
      expiresAt: tokens.accessExpiresAt,
    });
  });

  it("answers a bad token with valid false and the reason, never by throwing", async () => {
    const lab = await coreLab();
    const { tokens } = await signIn(lab);
    expect(await verifyAccess(lab.deps, "")).toEqual({ valid: false, reason: "token_not_valid" });
    expect(await verifyAccess(lab.deps, tokens.refresh)).toEqual({ valid: false, reason: "token_wrong_type" });
    lab.clock.advance(HOUR);
    expect(await verifyAccess(lab.deps, tokens.access)).toEqual({ valid: false, reason: "token_expired" });
  });

  it("answers session_revoked for a token of a logged-out session", async () => {
    const lab = await coreLab();
    const { tokens } = await signIn(lab);
    expect(await verifyAccess(lab.deps, tokens.access)).toMatchObject({ valid: true });
    await logout(lab.deps, tokens.refresh);
    expect(await verifyAccess(lab.deps, tokens.access)).toEqual({ valid: false, reason: "session_revoked" });
  });

  it("throws when the store cannot say whether the session lives", async () => {
    const lab = await coreLab();
    const { tokens } = await signIn(lab);
    databaseDown(lab);
    const failure = verifyAccess(lab.deps, tokens.access);
    await expect(failure).rejects.toBeInstanceOf(UnavailableError);
    await expect(failure).rejects.toMatchObject({ dependency: "database" });
    await expect(authenticateAccess(lab.deps, tokens.access)).rejects.toBeInstanceOf(UnavailableError);
  });
});

describe("the answer from what this process holds (a verified token, its session's facts)", () => {
  it("answers a warm Verify without a promise, as the full check does, and stops at a revocation", async () => {
    const lab = await coreLab({ localCopyMs: 60_000 });
    const { tokens } = await signIn(lab);
    const full = await verifyAccess(lab.deps, tokens.access);
    const held = verifyAccess(lab.deps, tokens.access);
    expect(held).not.toBeInstanceOf(Promise);
    expect(held).toEqual(full);
    expect(await authenticateAccess(lab.deps, tokens.access)).toMatchObject({ sessionId: split(tokens.access).payload.sid });
    // The revocation drops the copies: nothing held answers "valid" after it.
    await logout(lab.deps, tokens.refresh);
    expect(await verifyAccess(lab.deps, tokens.access)).toEqual({ valid: false, reason: "session_revoked" });
    expect(await refusal(authenticateAccess(lab.deps, tokens.access))).toMatchObject({ reason: "session_revoked" });
  });

  it("holds nothing past the token's exp: within the leeway a session past its cap is session_expired, as without copies", async () => {
    const lab = await coreLab({ localCopyMs: 60_000, env: { ACCESS_TOKEN_LIFETIME: "10m", SESSION_MAX_LIFETIME: "15m", JWT_LEEWAY: "30s" } });
    const start = lab.clock.now();
    const { tokens } = await signIn(lab);
    lab.clock.advance(10 * MINUTE);
    const late = await refreshSession(lab.deps, tokens.refresh);
    expect(await verifyAccess(lab.deps, late.access)).toMatchObject({ valid: true });
    lab.clock.set(start + 15 * MINUTE + 10_000);
    expect(await verifyAccess(lab.deps, late.access)).toEqual({ valid: false, reason: "session_expired" });
    expect(await refusal(authenticateAccess(lab.deps, late.access))).toMatchObject({ reason: "session_expired" });
  });
});

describe("checkToken", () => {
  it("checks the session of a refresh token too", async () => {
    const lab = await coreLab();
    const { tokens } = await signIn(lab);
    expect(await checkToken(lab.deps, tokens.refresh, "refresh")).toMatchObject({ token_type: "refresh" });
    await logout(lab.deps, tokens.refresh);
    expect(await refusal(checkToken(lab.deps, tokens.refresh, "refresh"))).toMatchObject({ reason: "session_revoked" });
  });
});

describe("readToken and the verified-token cache", () => {
  it("answers a verified access token from the cache, and never past its exp", async () => {
    const lab = await coreLab({ env: { JWT_LEEWAY: "30s" } });
    const { tokens } = await signIn(lab);
    const claims = await readToken(lab.deps, tokens.access, "access");
    expect(lab.deps.verifiedTokens.get(tokens.access, lab.clock.now())).toEqual(claims);
    // Another key ring would refuse the token: only the cache can answer it now.
    lab.deps.keys = await createKeyRing({ algorithm: "HS256", signingKey: "another-signing-secret-of-at-least-32-bytes" });
    expect(await readToken(lab.deps, tokens.access, "access")).toBe(claims);
    lab.clock.advance(HOUR - 1);
    expect(await readToken(lab.deps, tokens.access, "access")).toBe(claims);
    // At exp the cached entry is gone, though the leeway would still take the token.
    lab.clock.advance(1);
    expect(await refusal(readToken(lab.deps, tokens.access, "access"))).toEqual({ reason: "token_not_valid", message: "ERR_JWKS_NO_MATCHING_KEY" });
  });

  it("does not cache refresh tokens", async () => {
    const lab = await coreLab();
    const { tokens } = await signIn(lab);
    await readToken(lab.deps, tokens.refresh, "refresh");
    expect(lab.deps.verifiedTokens.get(tokens.refresh, lab.clock.now())).toBeUndefined();
    lab.deps.keys = await createKeyRing({ algorithm: "HS256", signingKey: "another-signing-secret-of-at-least-32-bytes" });
    expect(await refusal(readToken(lab.deps, tokens.refresh, "refresh"))).toMatchObject({ reason: "token_not_valid" });
  });

  it("does not cache a refused token, nor answer a refresh token from the access cache", async () => {
    const lab = await coreLab();
    const { tokens } = await signIn(lab);
    await refusal(readToken(lab.deps, tokens.refresh, "access"));
    expect(lab.deps.verifiedTokens.get(tokens.refresh, lab.clock.now())).toBeUndefined();
    await readToken(lab.deps, tokens.access, "access");
    expect(await refusal(readToken(lab.deps, tokens.access, "refresh"))).toMatchObject({ reason: "token_wrong_type" });
  });

  it("checks the configured issuer and audience", async () => {
    const plain = await coreLab();
    const strict = await coreLab({ env: { JWT_ISSUER: "https://id.example", JWT_AUDIENCE: "api" } });
    const { tokens } = await signIn(strict);
    expect(await readToken(strict.deps, tokens.access, "access")).toMatchObject({ iss: "https://id.example", aud: "api" });
    const { tokens: bare } = await signIn(plain);
    expect(await refusal(readToken(strict.deps, bare.access, "access"))).toEqual({ reason: "token_not_valid", message: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
    const issuerOnly = await coreLab({ env: { JWT_ISSUER: "https://id.example" } });
    const { tokens: noAudience } = await signIn(issuerOnly);
    expect(await refusal(readToken(strict.deps, noAudience.access, "access"))).toEqual({ reason: "token_not_valid", message: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
    // A deployment without them takes tokens that carry them.
    expect(await readToken(plain.deps, tokens.access, "access")).toMatchObject({ iss: "https://id.example" });
  });

  it("applies JWT_LEEWAY", async () => {
    const lenient = await coreLab({ env: { JWT_LEEWAY: "30s" } });
    const exact = await coreLab();
    const { tokens } = await signIn(lenient);
    lenient.clock.advance(HOUR + 20_000);
    exact.clock.advance(HOUR + 20_000);
    expect(await readToken(lenient.deps, tokens.access, "access")).toMatchObject({ token_type: "access" });
    expect(await refusal(readToken(exact.deps, tokens.access, "access"))).toEqual({ reason: "token_expired", message: "exp is in the past" });
  });

  it("bounds each type by its own lifetime", async () => {
    const longer = await coreLab({ env: { ACCESS_TOKEN_LIFETIME: "2h", REFRESH_TOKEN_LIFETIME: "14d" } });
    const usual = await coreLab();
    const { tokens } = await signIn(longer);
    const tooLong = { reason: "token_not_valid", message: "exp is further from iat than a token of this type lives" };
    expect(await refusal(readToken(usual.deps, tokens.access, "access"))).toEqual(tooLong);
    expect(await refusal(readToken(usual.deps, tokens.refresh, "refresh"))).toEqual(tooLong);
    // A usual refresh token lives 7 days, far longer than an access token.
    const { tokens: usualTokens } = await signIn(usual, "09121234568");
    expect(await readToken(usual.deps, usualTokens.refresh, "refresh")).toMatchObject({ token_type: "refresh" });
  });

  it("logs each refusal at debug level, with the type it expected", async () => {
    const lab = await coreLab();
    const { tokens } = await signIn(lab);
    const { log, lines } = debugLog();
    lab.deps.log = log;
    await refusal(readToken(lab.deps, tokens.access, "refresh"));
    expect(lines).toEqual([expect.objectContaining({ level: 20, why: "token_type is not refresh", expected: "refresh", msg: "token refused" })]);
  });

  it("throws AppError only for refusals", async () => {
    const lab = await coreLab();
    await expect(readToken(lab.deps, "x", "access")).rejects.toBeInstanceOf(AppError);
  });
});
