/**
 * RFC 7662 introspection: the service key first, then either token type (the hint
 * only orders the attempts); any bad token is `active: false`, a store that cannot
 * say throws.
 */
import { describe, expect, it } from "vitest";
import { UnavailableError } from "../../../src/core/errors.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { logout } from "../../../src/core/sessions/revoke.js";
import { introspect } from "../../../src/core/tokens/introspect.js";
import { split } from "../../support/forge.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { debugLog, refusal, signIn } from "../support/token-lab.js";

const KEY = "billing-key-0123456789";
const keyed = () => coreLab({ env: { SERVICE_API_KEYS: `billing:${KEY},search:search-key-0123456789` } });
const ask = (lab: CoreLab, token: string, hint = "") => introspect(lab.deps, { token, hint, serviceKey: KEY });
const askAs = (lab: CoreLab, serviceKey: string | undefined, token: string) => introspect(lab.deps, { token, hint: "", serviceKey });

describe("the service key", () => {
  it("is checked before the token: missing or wrong is not_authenticated", async () => {
    const lab = await keyed();
    const { tokens } = await signIn(lab);
    expect(await refusal(askAs(lab, undefined, tokens.access))).toEqual({ reason: "not_authenticated", message: "missing x-api-key" });
    expect(await refusal(askAs(lab, "wrong-key-0123456789", tokens.access))).toEqual({ reason: "not_authenticated", message: "unknown x-api-key" });
    expect(await refusal(askAs(lab, "", "garbage"))).toEqual({ reason: "not_authenticated", message: "unknown x-api-key" });
    expect(await askAs(lab, "search-key-0123456789", tokens.access)).toMatchObject({ active: true });
  });

  it("is not asked for when none is configured (development)", async () => {
    const lab = await coreLab();
    const { tokens } = await signIn(lab);
    expect(await askAs(lab, undefined, tokens.access)).toMatchObject({ active: true });
  });
});

describe("tokens", () => {
  it("answers a live access token with its claims, whatever the hint", async () => {
    const lab = await keyed();
    const { tokens } = await signIn(lab);
    const claims = split(tokens.access).payload;
    for (const hint of ["", "access_token", "refresh_token", "something"]) {
      expect(await ask(lab, tokens.access, hint)).toEqual({ active: true, claims });
    }
  });

  it("answers a live refresh token with its claims, whatever the hint", async () => {
    const lab = await keyed();
    const { tokens } = await signIn(lab);
    const claims = split(tokens.refresh).payload;
    for (const hint of ["", "access_token", "refresh_token"]) {
      expect(await ask(lab, tokens.refresh, hint)).toEqual({ active: true, claims });
    }
  });

  it("tries the hinted type first", async () => {
    const lab = await keyed();
    const { tokens } = await signIn(lab);
    const { log, lines } = debugLog();
    lab.deps.log = log;
    await ask(lab, tokens.access, "refresh_token");
    expect(lines.map((line) => line.expected)).toEqual(["refresh"]);
    lines.length = 0;
    await ask(lab, tokens.refresh, "");
    expect(lines.map((line) => line.expected)).toEqual(["access"]);
    lines.length = 0;
    await ask(lab, tokens.access, "access_token");
    await ask(lab, tokens.refresh, "refresh_token");
    expect(lines).toEqual([]);
  });

  it("stops at the first refusal that is not the wrong type", async () => {
    const lab = await keyed();
    const { tokens } = await signIn(lab);
    const { log, lines } = debugLog();
    lab.deps.log = log;
    lab.clock.advance(60 * 60_000);
    expect(await ask(lab, tokens.access)).toEqual({ active: false });
    expect(await ask(lab, "garbage")).toEqual({ active: false });
    expect(lines.map((line) => [line.expected, line.why])).toEqual([["access", "exp is in the past"], ["access", "not three canonical base64url segments"]]);
  });

  it("answers only active false for any bad token", async () => {
    const lab = await keyed();
    const { tokens } = await signIn(lab);
    const [h, p] = tokens.access.split(".");
    for (const token of ["", "garbage", `${h}.${p}.AAAA`, `${tokens.access}x`]) {
      expect(await ask(lab, token)).toEqual({ active: false });
      expect(await ask(lab, token, "refresh_token")).toEqual({ active: false });
    }
  });

  it("answers active false for expired tokens", async () => {
    const lab = await keyed();
    const { tokens } = await signIn(lab);
    lab.clock.advance(60 * 60_000);
    expect(await ask(lab, tokens.access)).toEqual({ active: false });
    expect(await ask(lab, tokens.refresh)).toMatchObject({ active: true });
    lab.clock.advance(7 * 24 * 60 * 60_000);
    expect(await ask(lab, tokens.refresh, "refresh_token")).toEqual({ active: false });
  });

  it("answers active false for both tokens of a logged-out session", async () => {
    const lab = await keyed();
    const { tokens } = await signIn(lab);
    await logout(lab.deps, tokens.refresh);
    expect(await ask(lab, tokens.access)).toEqual({ active: false });
    expect(await ask(lab, tokens.refresh, "refresh_token")).toEqual({ active: false });
  });

  it("answers active false for a refresh token replaced by rotation, while its session lives", async () => {
    const lab = await keyed();
    const { tokens } = await signIn(lab);
    const next = await refreshSession(lab.deps, tokens.refresh);
    expect(await ask(lab, tokens.refresh, "refresh_token")).toEqual({ active: false });
    expect(await ask(lab, next.refresh, "refresh_token")).toMatchObject({ active: true });
    // Access tokens are not rotated out: the first one still lives.
    expect(await ask(lab, tokens.access)).toMatchObject({ active: true });
  });

  it("throws when a store cannot say", async () => {
    const lab = await keyed();
    const { tokens } = await signIn(lab);
    lab.stores.sessions.rotationState = () => Promise.reject(new UnavailableError("database", "connection refused"));
    await expect(ask(lab, tokens.refresh, "refresh_token")).rejects.toBeInstanceOf(UnavailableError);
    // On a cold cache, an access token's session is read from the database.
    const fresh = await keyed();
    const other = await signIn(fresh);
    fresh.stores.sessions.snapshot = () => Promise.reject(new UnavailableError("database", "connection refused"));
    await expect(ask(fresh, other.tokens.access)).rejects.toBeInstanceOf(UnavailableError);
  });
});
