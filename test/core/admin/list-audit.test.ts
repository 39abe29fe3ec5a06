import { describe, expect, it } from "vitest";
import { listAuditEvents, type ListAuditEventsRequest } from "../../../src/core/admin/list-audit.js";
import { revokeUserSessions } from "../../../src/core/admin/revoke-sessions.js";
import { coreLab } from "../support/core-deps.js";
import { refusalOf, signIn, signUp } from "../support/signed-in.js";

function request(overrides: Partial<ListAuditEventsRequest> = {}): ListAuditEventsRequest {
  return { userId: "", type: "", since: undefined, pageSize: 0, pageToken: "", ...overrides };
}

describe("listAuditEvents", () => {
  it("lists newest first by user, type and since (inclusive), a page at a time", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    await signUp(lab);
    lab.clock.advance(1_000);
    const since = new Date(lab.clock.now());
    await signIn(lab, user.phone);
    await revokeUserSessions(lab.deps, { kind: "system" }, user.id, null);

    const mine = await listAuditEvents(lab.deps, request({ userId: user.id.toUpperCase() }));
    expect(mine.events.map((e) => e.type)).toEqual(["admin.sessions_revoked", "user.logged_in", "user.registered"]);
    expect((await listAuditEvents(lab.deps, request({ userId: user.id, since }))).events.map((e) => e.type)).toEqual(["admin.sessions_revoked", "user.logged_in"]);
    expect((await listAuditEvents(lab.deps, request({ type: "user.registered" }))).events).toHaveLength(2);

    const first = await listAuditEvents(lab.deps, request({ userId: user.id, pageSize: 2 }));
    const second = await listAuditEvents(lab.deps, request({ userId: user.id, pageSize: 2, pageToken: first.nextPageToken }));
    expect([...first.events, ...second.events]).toEqual(mine.events);
    expect(second.nextPageToken).toBe("");
  });

  it("refuses a malformed user_id, an unknown type, an instant that is none, and another query's token, naming the field", async () => {
    const lab = await coreLab();
    await signUp(lab);
    await signUp(lab);
    const { nextPageToken } = await listAuditEvents(lab.deps, request({ pageSize: 1 }));
    const cases: [Partial<ListAuditEventsRequest>, string][] = [
      [{ userId: "me" }, "user_id"],
      [{ type: "user.*" }, "type"],
      [{ since: new Date(Number.NaN) }, "since"],
      [{ pageSize: -5 }, "page_size"],
      [{ type: "user.registered", pageSize: 1, pageToken: nextPageToken }, "page_token"],
    ];
    for (const [overrides, field] of cases) {
      const refused = await refusalOf(listAuditEvents(lab.deps, request(overrides)));
      expect({ reason: refused.reason, field: refused.field }).toEqual({ reason: "validation_error", field });
    }
  });
});
