/**
 * Staff administration over the bridge: every sentence of the suite
 * (test/support/admin-suite.ts) in the Connect protocol and on the `/api/admin/...`
 * routes, then what only HTTP has: the JSON shapes, the body and query checks, and
 * the routes' methods.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiAdminSurface, connectAdminSurface } from "./support/admin-surfaces.js";
import { ADMIN_ENV, ADMIN_KEY, describeAdminContract } from "./support/admin-suite.js";
import { startBridgeHarness, type Answer, type BridgeHarness, type Session } from "./support/bridge-server.js";
import { realStoresAvailable } from "./support/services.js";
import { apiSurface, connectSurface } from "./support/surfaces.js";

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe.runIf(realStoresAvailable())("staff administration over the bridge", () => {
  describe("in the Connect protocol", () => {
    describeAdminContract(async () => {
      const h = await startBridgeHarness({ env: ADMIN_ENV });
      return { people: connectSurface(h.url), admin: connectAdminSurface(h.url), inbox: h.inbox, close: () => h.close() };
    });
  });

  describe("on /api/admin/...", () => {
    describeAdminContract(async () => {
      const h = await startBridgeHarness({ env: ADMIN_ENV });
      return { people: apiSurface(h.url), admin: apiAdminSurface(h.url), inbox: h.inbox, close: () => h.close() };
    });
  });

  describe("what only HTTP has", () => {
    let h: BridgeHarness;
    let staff: Session;
    const desk = { "x-api-key": ADMIN_KEY };
    const bearer = (session: Session) => ({ authorization: `Bearer ${session.tokens.access}` });

    beforeAll(async () => {
      h = await startBridgeHarness({ env: ADMIN_ENV });
      staff = await h.signUp();
      expect((await h.request("PATCH", `/api/admin/users/${staff.user.id}/`, { json: { is_staff: true }, headers: desk })).status).toBe(200);
    });
    afterAll(async () => {
      await h?.close();
    });

    function expectRefusal(answer: Answer, status: number, code: string, field?: string): void {
      expect({ status: answer.status, success: answer.body?.success, code: answer.body?.data?.code, field: answer.body?.data?.field }).toEqual({ status, success: false, code, field });
    }

    /** How many admin.* events the trail holds about `userId`. */
    async function adminEventCount(userId: string): Promise<number> {
      const answer = await h.request("GET", `/api/admin/audit/?user_id=${userId}&page_size=500`, { headers: desk });
      return (answer.body.data.events as { type: string }[]).filter((e) => e.type.startsWith("admin.")).length;
    }

    it("answers a user as the user object plus is_active and live_sessions, saying the caller was authenticated", async () => {
      const person = await h.signUp(undefined, { first_name: "Mina", last_name: "Karimi" });
      const answer = await h.request("GET", `/api/admin/users/${person.user.id}/`, { headers: bearer(staff) });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        success: true,
        message: expect.any(String),
        data: {
          user: {
            id: person.user.id,
            phone: person.user.phone,
            first_name: "Mina",
            last_name: "Karimi",
            is_staff: false,
            date_joined: expect.stringMatching(ISO),
            last_login: expect.stringMatching(ISO),
            is_active: true,
            live_sessions: 1,
          },
        },
      });
      expect(answer.headers.get("x-authenticated")).toBe("true");
      expect(Number(answer.headers.get("x-token-expires-at"))).toBeGreaterThan(Date.now() / 1000);
    });

    it("lists users as {users, next_page_token}, and the audit trail as {events, next_page_token}", async () => {
      const person = await h.signUp();
      const users = await h.request("GET", `/api/admin/users/?phone=${encodeURIComponent(person.user.phone)}`, { headers: desk });
      expect(users.body.data).toEqual({ users: [expect.objectContaining({ id: person.user.id, is_active: true, live_sessions: 1 })], next_page_token: "" });
      const events = await h.request("GET", `/api/admin/audit/?user_id=${person.user.id}&type=user.registered`, { headers: desk });
      expect(events.body.data).toEqual({
        events: [
          {
            id: expect.stringMatching(/^\d+$/),
            at: expect.stringMatching(ISO),
            type: "user.registered",
            user_id: person.user.id,
            session_id: expect.any(String),
            actor: `user:${person.user.id}`,
            ip: "127.0.0.1",
            user_agent: expect.any(String),
            details: {},
          },
        ],
        next_page_token: "",
      });
    });

    it("takes since as an ISO 8601 instant with any offset, inclusive", async () => {
      const person = await h.signUp();
      const [event] = (await h.request("GET", `/api/admin/audit/?user_id=${person.user.id}`, { headers: desk })).body.data.events as { id: string; at: string }[];
      const at = new Date(event!.at);
      const tehran = new Date(at.getTime() + 3.5 * 3_600_000).toISOString().replace("Z", "+03:30");
      const micros = event!.at.replace("Z", "999Z"); // digits past the millisecond are dropped
      for (const since of [event!.at, tehran, micros]) {
        const listed = await h.request("GET", `/api/admin/audit/?user_id=${person.user.id}&since=${encodeURIComponent(since)}`, { headers: desk });
        expect((listed.body.data.events as { id: string }[]).map((e) => e.id)).toContain(event!.id);
      }
      const later = new Date(at.getTime() + 1).toISOString();
      const after = await h.request("GET", `/api/admin/audit/?user_id=${person.user.id}&since=${later}`, { headers: desk });
      expect((after.body.data.events as { id: string }[]).map((e) => e.id)).not.toContain(event!.id);
    });

    it("refuses bad query values with 400 validation_error naming the parameter", async () => {
      const cases: [string, string][] = [
        ["/api/admin/users/?page_size=ten", "page_size"],
        ["/api/admin/users/?page_size=1.5", "page_size"],
        ["/api/admin/users/?page_size=-3", "page_size"],
        ["/api/admin/users/?page_size=100000000000000000000", "page_size"],
        ["/api/admin/users/?q=a&q=b", "q"],
        ["/api/admin/users/?page_token=%25%25", "page_token"],
        ["/api/admin/audit/?since=yesterday", "since"],
        ["/api/admin/audit/?since=2026-01-01", "since"],
        ["/api/admin/audit/?since=2026-02-30T00:00:00Z", "since"],
        ["/api/admin/audit/?since=2026-01-01T10:0012Z", "since"],
        ["/api/admin/audit/?since=2026-01-01T10:00.5Z", "since"],
        ["/api/admin/audit/?since=2026-01-01T10:00:00", "since"],
        ["/api/admin/audit/?user_id=42", "user_id"],
        ["/api/admin/audit/?type=user.exploded", "type"],
        ["/api/admin/audit/?page_size=501", "page_size"],
      ];
      for (const [path, field] of cases) {
        const answer = await h.request("GET", path, { headers: desk });
        expect({ path, status: answer.status, code: answer.body.data.code, field: answer.body.data.field }).toEqual({ path, status: 400, code: "validation_error", field });
      }
    });

    it("PATCH takes is_active and is_staff as booleans only; anything else is 400 naming the field, changing nothing", async () => {
      const person = await h.signUp();
      const path = `/api/admin/users/${person.user.id}/`;
      const bodies: [unknown, string][] = [
        [{ is_active: "false" }, "is_active"],
        [{ is_active: 0 }, "is_active"],
        [{ is_staff: null }, "is_staff"],
        [{ is_active: false, isStaff: true }, "isStaff"],
        [{ is_superuser: true }, "is_superuser"],
      ];
      for (const [json, field] of bodies) expectRefusal(await h.request("PATCH", path, { json, headers: bearer(staff) }), 400, "validation_error", field);
      expectRefusal(await h.request("PATCH", path, { body: "{", headers: { ...bearer(staff), "content-type": "application/json" } }), 400, "invalid_json");
      expectRefusal(await h.request("PATCH", path, { json: [true], headers: bearer(staff) }), 400, "validation_error");
      expect((await h.request("PATCH", path, { body: "is_active=false", headers: { ...bearer(staff), "content-type": "application/x-www-form-urlencoded" } })).status).toBe(415);

      // {} is allowed: only the fields given change, so nothing does.
      const unchanged = await h.request("PATCH", path, { json: {}, headers: bearer(staff) });
      expect(unchanged.body.data.user).toMatchObject({ is_active: true, is_staff: false, live_sessions: 1 });
      expect(await adminEventCount(person.user.id)).toBe(0);
      expect((await h.request("POST", "/api/token/verify/", { json: { token: person.tokens.access } })).status).toBe(200);
    });

    it("answers the staff changes with their own messages, and logout-all with {revoked}", async () => {
      const person = await h.signUp();
      const english = { ...desk, "accept-language": "en" };
      const updated = await h.request("PATCH", `/api/admin/users/${person.user.id}/`, { json: { is_staff: true }, headers: english });
      expect({ status: updated.status, message: updated.body.message }).toEqual({ status: 200, message: "The user was updated." });
      const ended = await h.request("POST", `/api/admin/users/${person.user.id}/logout-all/`, { headers: english });
      expect({ status: ended.status, message: ended.body.message, data: ended.body.data }).toEqual({ status: 200, message: "Every session of the user was ended.", data: { revoked: 1 } });
    });

    it("answers OPTIONS with Allow, and a method a route does not have with 405", async () => {
      const id = staff.user.id;
      const allowed: [string, string][] = [
        ["/api/admin/users/", "GET, HEAD, OPTIONS"],
        [`/api/admin/users/${id}/`, "GET, PATCH, HEAD, OPTIONS"],
        [`/api/admin/users/${id}/logout-all/`, "POST, OPTIONS"],
        ["/api/admin/audit/", "GET, HEAD, OPTIONS"],
      ];
      for (const [path, allow] of allowed) {
        const options = await h.request("OPTIONS", path);
        expect({ path, status: options.status, allow: options.headers.get("allow") }).toEqual({ path, status: 204, allow });
      }
      expectRefusal(await h.request("DELETE", `/api/admin/users/${id}/`, { headers: desk }), 405, "method_not_allowed");
      expectRefusal(await h.request("GET", `/api/admin/users/${id}/logout-all/`, { headers: desk }), 405, "method_not_allowed");
    });
  });
});
