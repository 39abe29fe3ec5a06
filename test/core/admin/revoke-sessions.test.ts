import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { getUser } from "../../../src/core/admin/get-user.js";
import { revokeUserSessions } from "../../../src/core/admin/revoke-sessions.js";
import { logout } from "../../../src/core/sessions/revoke.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { coreLab } from "../support/core-deps.js";
import { callerOf, refusal, refusalOf, signIn, signUp } from "../support/signed-in.js";

const SERVICE = { kind: "service", name: "support-desk" } as const;
const CLIENT = { ip: "198.51.100.4", userAgent: "support-desk/2.1" };

describe("revokeUserSessions", () => {
  it("ends every session of the user at once and counts those that were live", async () => {
    const lab = await coreLab();
    const one = await signUp(lab);
    const two = await signIn(lab, one.user.phone);
    const three = await signIn(lab, one.user.phone);
    const stranger = await signUp(lab);
    await logout(lab.deps, two.tokens.refresh);
    for (const s of [one, three, stranger]) await callerOf(lab, s.tokens.access);

    expect(await revokeUserSessions(lab.deps, SERVICE, one.user.id, CLIENT)).toBe(2);
    for (const s of [one, two, three]) expect(await refusal(callerOf(lab, s.tokens.access))).toBe("session_revoked");
    expect(await refusal(refreshSession(lab.deps, one.tokens.refresh))).toBe("session_revoked");
    await expect(callerOf(lab, stranger.tokens.access)).resolves.toBeDefined();
    // The account stays active: a new login works.
    const again = await signIn(lab, one.user.phone);
    await expect(callerOf(lab, again.tokens.access)).resolves.toBeDefined();
    expect((await getUser(lab.deps, one.user.id)).liveSessions).toBe(1);
  });

  it("records admin.sessions_revoked with the actor, the client and the count", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    await revokeUserSessions(lab.deps, SERVICE, user.id, CLIENT);
    expect(lab.stores.admin.auditEvents().at(-1)).toMatchObject({
      type: "admin.sessions_revoked",
      userId: user.id,
      actor: "service:support-desk",
      ip: CLIENT.ip,
      userAgent: CLIENT.userAgent,
      details: { revoked: 1 },
    });
  });

  it("answers not_found for an unknown id and validation_error for a malformed one, recording nothing", async () => {
    const lab = await coreLab();
    const before = lab.stores.admin.auditEvents().length;
    expect(await refusal(revokeUserSessions(lab.deps, SERVICE, randomUUID(), CLIENT))).toBe("not_found");
    const malformed = await refusalOf(revokeUserSessions(lab.deps, SERVICE, "42", CLIENT));
    expect({ reason: malformed.reason, field: malformed.field }).toEqual({ reason: "validation_error", field: "id" });
    expect(lab.stores.admin.auditEvents()).toHaveLength(before);
  });
});
