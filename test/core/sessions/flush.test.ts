import { describe, expect, it } from "vitest";
import { flushExpired, type FlushBatch } from "../../../src/core/sessions/flush.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { claimsOf, signUp } from "../support/signed-in.js";

const HOUR_MS = 3_600_000;

async function flush(lab: CoreLab, batchSize: number): Promise<{ batches: FlushBatch[]; total: { sessions: number; tokens: number } }> {
  const batches: FlushBatch[] = [];
  const total = await flushExpired(lab.stores.sessions, lab.clock, batchSize, (batch) => batches.push(batch));
  return { batches, total };
}

describe("flushExpired", () => {
  it("deletes expired refresh tokens in bounded batches, leaving their live sessions", async () => {
    const lab = await coreLab({ env: { REFRESH_TOKEN_LIFETIME: "1h" } });
    for (let i = 0; i < 5; i++) await signUp(lab);
    lab.clock.advance(HOUR_MS);
    const fresh = await signUp(lab);

    const { batches, total } = await flush(lab, 2);
    expect(batches).toEqual([
      { sessions: 0, tokens: 2 },
      { sessions: 0, tokens: 2 },
      { sessions: 0, tokens: 1 },
      { sessions: 0, tokens: 0 },
    ]);
    expect(total).toEqual({ sessions: 0, tokens: 5 });
    expect(lab.stores.admin.counts()).toMatchObject({ sessions: 6, tokens: 1 });
    const { sid, jti } = claimsOf(fresh.tokens.refresh);
    expect(lab.stores.admin.liveRefreshJti(sid)).toBe(jti);
    await expect(refreshSession(lab.deps, fresh.tokens.refresh)).resolves.toBeDefined();
  });

  it("asks once more after a full batch, and stops at the first short one", async () => {
    const lab = await coreLab({ env: { REFRESH_TOKEN_LIFETIME: "1h" } });
    for (let i = 0; i < 4; i++) await signUp(lab);
    lab.clock.advance(HOUR_MS);
    const { batches, total } = await flush(lab, 2);
    expect(batches).toEqual([
      { sessions: 0, tokens: 2 },
      { sessions: 0, tokens: 2 },
      { sessions: 0, tokens: 0 },
      { sessions: 0, tokens: 0 },
    ]);
    expect(total).toEqual({ sessions: 0, tokens: 4 });
  });

  it("deletes expired sessions with the refresh tokens that outlived them, batch by batch", async () => {
    const lab = await coreLab({ env: { SESSION_MAX_LIFETIME: "2h" } });
    const { tokens } = await signUp(lab);
    const second = await refreshSession(lab.deps, tokens.refresh);
    await refreshSession(lab.deps, second.refresh);
    lab.clock.advance(2 * HOUR_MS);
    await signUp(lab);

    const { batches, total } = await flush(lab, 2);
    // Tokens first (none expired), then the session's three token rows two at a
    // time: a batch full of tokens goes on even though it deleted no session.
    expect(batches).toEqual([
      { sessions: 0, tokens: 0 },
      { sessions: 0, tokens: 2 },
      { sessions: 1, tokens: 1 },
    ]);
    expect(total).toEqual({ sessions: 1, tokens: 3 });
    expect(lab.stores.admin.counts()).toMatchObject({ users: 2, sessions: 1, tokens: 1, blacklisted: 0 });
  });

  it("goes on after a batch full of sessions", async () => {
    const lab = await coreLab({ env: { SESSION_MAX_LIFETIME: "2h" } });
    for (let i = 0; i < 3; i++) await signUp(lab);
    lab.clock.advance(2 * HOUR_MS);
    const { batches, total } = await flush(lab, 2);
    expect(batches).toEqual([
      { sessions: 0, tokens: 0 },
      { sessions: 2, tokens: 2 },
      { sessions: 1, tokens: 1 },
    ]);
    expect(total).toEqual({ sessions: 3, tokens: 3 });
    expect(lab.stores.admin.counts()).toMatchObject({ sessions: 0, tokens: 0 });
  });

  it("goes on after a batch full of sessions whose tokens were already gone", async () => {
    const lab = await coreLab({ env: { REFRESH_TOKEN_LIFETIME: "1h", SESSION_MAX_LIFETIME: "2h" } });
    for (let i = 0; i < 3; i++) await signUp(lab);
    lab.clock.advance(2 * HOUR_MS);
    const { batches, total } = await flush(lab, 2);
    expect(batches).toEqual([
      { sessions: 0, tokens: 2 },
      { sessions: 0, tokens: 1 },
      { sessions: 2, tokens: 0 },
      { sessions: 1, tokens: 0 },
    ]);
    expect(total).toEqual({ sessions: 3, tokens: 3 });
    expect(lab.stores.admin.counts()).toMatchObject({ sessions: 0, tokens: 0 });
  });

  it("deletes nothing that has not expired, and needs no batch listener", async () => {
    const lab = await coreLab({ env: { REFRESH_TOKEN_LIFETIME: "1h", SESSION_MAX_LIFETIME: "2h" } });
    await signUp(lab);
    lab.clock.advance(HOUR_MS - 1);
    expect(await flushExpired(lab.stores.sessions, lab.clock, 10)).toEqual({ sessions: 0, tokens: 0 });
    expect(lab.stores.admin.counts()).toMatchObject({ sessions: 1, tokens: 1 });
  });
});
