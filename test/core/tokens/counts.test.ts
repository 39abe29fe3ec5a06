/**
 * Verify counts each answer: `valid`, or the reason a token is not. Only Verify:
 * the Bearer check of other calls and Introspect count nothing, and neither does a
 * store that cannot say.
 */
import { describe, expect, it } from "vitest";
import { UnavailableError } from "../../../src/core/errors.js";
import { logout } from "../../../src/core/sessions/revoke.js";
import { authenticateAccess, verifyAccess } from "../../../src/core/tokens/authenticate.js";
import { introspect } from "../../../src/core/tokens/introspect.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { recordedMetrics, type RecordedMetrics } from "../support/recorded-metrics.js";
import { signUp } from "../support/signed-in.js";

const KEY = "billing-key-0123456789";

async function countedLab(): Promise<{ lab: CoreLab; metrics: RecordedMetrics }> {
  const metrics = recordedMetrics();
  return { lab: await coreLab({ env: { SERVICE_API_KEYS: `billing:${KEY}`, ACCESS_TOKEN_LIFETIME: "5m" }, metrics }), metrics };
}

describe("verifyAccess counts its answer", () => {
  it("valid, token_wrong_type, token_not_valid, session_revoked and token_expired, once each", async () => {
    const { lab, metrics } = await countedLab();
    const { tokens } = await signUp(lab);
    const other = await signUp(lab);
    await logout(lab.deps, other.tokens.refresh);
    metrics.take();
    expect(await verifyAccess(lab.deps, tokens.access)).toMatchObject({ valid: true });
    expect(await verifyAccess(lab.deps, tokens.refresh)).toMatchObject({ reason: "token_wrong_type" });
    expect(await verifyAccess(lab.deps, "garbage")).toMatchObject({ reason: "token_not_valid" });
    expect(await verifyAccess(lab.deps, other.tokens.access)).toMatchObject({ reason: "session_revoked" });
    lab.clock.advance(10 * 60_000);
    expect(await verifyAccess(lab.deps, tokens.access)).toMatchObject({ reason: "token_expired" });
    expect(metrics.take()).toEqual([
      ["verified", "valid"],
      ["verified", "token_wrong_type"],
      ["verified", "token_not_valid"],
      ["verified", "session_revoked"],
      ["verified", "token_expired"],
    ]);
  });

  it("counts nothing when the store cannot say whether the session lives", async () => {
    const { lab, metrics } = await countedLab();
    const { tokens } = await signUp(lab);
    metrics.take();
    lab.stores.sessions.snapshot = () => Promise.reject(new UnavailableError("database", "connection refused"));
    await expect(verifyAccess(lab.deps, tokens.access)).rejects.toBeInstanceOf(UnavailableError);
    expect(metrics.take()).toEqual([]);
  });

  it("the Bearer check of other calls and Introspect count nothing", async () => {
    const { lab, metrics } = await countedLab();
    const { tokens } = await signUp(lab);
    metrics.take();
    await authenticateAccess(lab.deps, tokens.access);
    await expect(authenticateAccess(lab.deps, "garbage")).rejects.toMatchObject({ reason: "token_not_valid" });
    expect(await introspect(lab.deps, { token: tokens.access, hint: "", serviceKey: KEY })).toMatchObject({ active: true });
    expect(await introspect(lab.deps, { token: "garbage", hint: "", serviceKey: KEY })).toEqual({ active: false });
    expect(metrics.take()).toEqual([]);
  });
});
