import { describe, expect, it } from "vitest";
import { ACTIVITY_LIMIT, ACTIVITY_TYPES, listActivity } from "../../../src/core/audit/activity.js";
import { AUDIT_EVENT_TYPES, type AuditEventType } from "../../../src/core/ports/audit.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { callerOf, signUp, TEST_CLIENT } from "../support/signed-in.js";

/** Appends an event about `userId` at the lab's now, then moves the clock on. */
async function appendFor(lab: CoreLab, userId: string, type: AuditEventType): Promise<void> {
  await lab.deps.audit.append({ type, at: new Date(lab.clock.now()), userId, client: TEST_CLIENT, actor: { kind: "system" } });
  lab.clock.advance(1000);
}

describe("listActivity", () => {
  it("shows the types of a person's account and sessions, and none of codes or staff", () => {
    expect(ACTIVITY_TYPES).toEqual(AUDIT_EVENT_TYPES.filter((type) => /^(user|session)\./.test(type)));
    expect(ACTIVITY_TYPES).toContain("user.login_failed");
    expect(ACTIVITY_TYPES).toContain("session.revoked");
    for (const hidden of ["otp.sent", "admin.user_updated", "admin.sessions_revoked", "legacy.token_exchanged"]) expect(ACTIVITY_TYPES).not.toContain(hidden);
  });

  it("lists the caller's own user.* and session.* events, newest first, and nobody else's", async () => {
    const lab = await coreLab();
    const mine = await signUp(lab);
    lab.clock.advance(1000);
    const theirs = await signUp(lab);
    lab.clock.advance(1000);
    await appendFor(lab, mine.user.id, "otp.sent");
    await appendFor(lab, mine.user.id, "admin.user_updated");
    await appendFor(lab, theirs.user.id, "user.login_failed");
    await appendFor(lab, mine.user.id, "session.logged_out");

    const events = await listActivity(lab.deps, await callerOf(lab, mine.tokens.access));
    expect(events.map((e) => e.type)).toEqual(["session.logged_out", "user.registered"]);
    expect(events.every((e) => e.userId === mine.user.id)).toBe(true);
    expect((await listActivity(lab.deps, await callerOf(lab, theirs.tokens.access))).map((e) => e.type)).toEqual(["user.login_failed", "user.registered"]);
  });

  it("shows the 50 newest, newest first, ties on the instant by the later event first", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    lab.clock.advance(1000);
    for (let i = 0; i < ACTIVITY_LIMIT + 5; i++) await appendFor(lab, user.id, i % 2 === 0 ? "user.login_failed" : "user.locked_out");
    // Two at one instant: the one appended later is listed first.
    const at = new Date(lab.clock.now());
    await lab.deps.audit.append({ type: "user.login_failed", at, userId: user.id, client: TEST_CLIENT, details: { nth: 1 } });
    await lab.deps.audit.append({ type: "user.login_failed", at, userId: user.id, client: TEST_CLIENT, details: { nth: 2 } });

    const events = await listActivity(lab.deps, await callerOf(lab, tokens.access));
    expect(events).toHaveLength(ACTIVITY_LIMIT);
    expect(events.slice(0, 2).map((e) => e.details)).toEqual([{ nth: 2 }, { nth: 1 }]);
    const instants = events.map((e) => e.at.getTime());
    expect(instants).toEqual([...instants].sort((a, b) => b - a));
    // The oldest (registration among them) fell off the end.
    expect(events.some((e) => e.type === "user.registered")).toBe(false);
  });
});
