/**
 * The browser client's sessions and activity methods in Chromium, against the
 * bridge with the service in-process on real PostgreSQL and Redis: what they
 * answer, how they fail, the refresh-and-retry on a 401, and ending this client's
 * own session. Other sessions of the user log in over HTTP (Node's fetch, whose
 * User-Agent is "node"); server time is moved forward to expire access tokens.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AuditEvent, Envelope, Session } from "../bridge/client/jwt-client.js";
import { browserSuitesRun, launchChromium, openTabs, type Tabs } from "./support/bridge-browser.js";
import { eventually } from "./support/eventually.js";
import { adoptSessionHeldFresh, apiRequest, failureOf, registerIn, registerOverHttp, state } from "./support/bridge-flows.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { realStoresAvailable } from "./support/services.js";

/** A session id: the tokens' `sid`, 16 random bytes in base64url. */
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** A client method called in the page: its resolved envelope. */
function call<T>(page: Page, method: "listSessions" | "getActivity" | "logoutOthers" | "revokeSession", ...args: string[]): Promise<Envelope<T>> {
  return page.evaluate(([m, a]) => (window.jwtClient as unknown as Record<string, (...x: string[]) => Promise<Envelope<T>>>)[m]!(...a), [method, args] as const);
}

const listSessions = (page: Page) => call<{ sessions: Session[] }>(page, "listSessions");
const getActivity = (page: Page) => call<{ events: AuditEvent[] }>(page, "getActivity");

describe.runIf(realStoresAvailable() && browserSuitesRun)("browser client: sessions and activity", () => {
  let h: BridgeHarness;
  let browser: Browser;
  let tabs: Tabs;
  // Server time only ever moves forward, so tokens issued after a jump stay valid.
  const clock = { offsetMs: 0, now: () => Date.now() + clock.offsetMs };
  /** Refreshes the pages asked for (the client's own requests, as the browser sent them). */
  let refreshes = 0;

  beforeAll(async () => {
    // Other sessions log in right after one another: no resend interval.
    [h, browser] = await Promise.all([startBridgeHarness({ build: { clock }, env: { OTP_RESEND_INTERVAL: "0s" } }), launchChromium()]);
    tabs = await openTabs(browser, h.url);
    tabs.context.on("request", (request) => void (new URL(request.url()).pathname === "/api/token/refresh/" && refreshes++));
  });
  afterAll(async () => {
    await tabs?.close();
    await browser?.close();
    await h?.close();
  });
  beforeEach(async () => {
    await tabs.reset();
  });

  const bearer = (access: string) => ({ headers: { authorization: `Bearer ${access}` } });

  it("lists the live sessions with their client, this one marked current, most recently used first", async () => {
    const page = await tabs.tab(0);
    const { e164 } = await registerIn(page, h);
    const elsewhere = await h.logIn(e164);

    const answer = await listSessions(page);
    expect(answer).toMatchObject({ success: true, message: expect.any(String) });
    const { sessions } = answer.data;
    expect(sessions).toHaveLength(2);
    for (const session of sessions) {
      expect(Object.keys(session).sort()).toEqual(["created_at", "current", "expires_at", "id", "ip", "last_used_at", "user_agent"]);
      expect(session.id).toMatch(SESSION_ID);
      for (const time of [session.created_at, session.last_used_at, session.expires_at]) expect(time).toMatch(ISO);
      expect(session.ip).toBe("127.0.0.1");
    }
    const [newest, older] = sessions;
    expect(newest).toMatchObject({ current: false, user_agent: "node" });
    expect(older).toMatchObject({ current: true, user_agent: await page.evaluate(() => navigator.userAgent) });
    expect(Date.parse(newest!.last_used_at)).toBeGreaterThanOrEqual(Date.parse(older!.last_used_at));

    // The other session sees the same two, itself the current one.
    const theirs = await h.request("GET", "/api/sessions/", bearer(elsewhere.tokens.access));
    expect(theirs.body.data.sessions.map((s: Session) => [s.id, s.current])).toEqual([
      [newest!.id, true],
      [older!.id, false],
    ]);
  });

  it("lists the user's own recent activity, newest first: the sign-up and the logins", async () => {
    const page = await tabs.tab(0);
    const { e164 } = await registerIn(page, h);
    await h.logIn(e164);
    const stranger = await registerOverHttp(h);

    const { success, data } = await getActivity(page);
    expect(success).toBe(true);
    expect(data.events.map((e) => e.type)).toEqual(["user.logged_in", "user.registered"]);
    const [login, registration] = data.events;
    expect(Object.keys(login!).sort()).toEqual(["actor", "at", "details", "id", "ip", "session_id", "type", "user_agent", "user_id"]);
    const user = (await state(page)).user!;
    expect(registration).toMatchObject({ user_id: user.id, actor: `user:${user.id}`, ip: "127.0.0.1", user_agent: await page.evaluate(() => navigator.userAgent) });
    expect(login).toMatchObject({ user_id: user.id, user_agent: "node", details: expect.any(Object) });
    expect(login!.at).toMatch(ISO);
    expect(BigInt(login!.id)).toBeGreaterThan(BigInt(registration!.id));
    expect(data.events.some((e) => e.user_id === stranger.data.user.id)).toBe(false);
  });

  it("ends another session of the user: its tokens are refused at once, this one goes on", async () => {
    const page = await tabs.tab(0);
    const { e164 } = await registerIn(page, h);
    const elsewhere = await h.logIn(e164);
    const other = (await listSessions(page)).data.sessions.find((s) => !s.current)!;

    expect(await call(page, "revokeSession", other.id)).toMatchObject({ success: true, data: { revoked: true } });
    const refused = await h.request("GET", "/api/dashboard/", bearer(elsewhere.tokens.access));
    expect(refused.status).toBe(403);
    expect(refused.body.data.code).toBe("session_revoked");
    expect((await h.request("POST", "/api/token/refresh/", { json: { refresh: elsewhere.tokens.refresh } })).status).toBe(403);
    expect((await state(page)).authenticated).toBe(true);
    expect((await listSessions(page)).data.sessions.map((s) => s.current)).toEqual([true]);
  });

  it("refuses an unknown session id and another user's alike (404 not_found), a malformed one with 400, changing nothing", async () => {
    const page = await tabs.tab(0);
    await registerIn(page, h);
    await page.evaluate(() => window.jwtClient!.setLanguage("en"));
    const stranger = await registerOverHttp(h);
    const theirs = (await h.request("GET", "/api/sessions/", bearer(stranger.data.tokens.access!))).body.data.sessions[0] as Session;

    for (const id of ["A".repeat(22), theirs.id]) {
      expect(await failureOf(page, "revokeSession", [id])).toEqual({ name: "JwtClientError", isError: true, status: 404, code: "not_found", message: "Not found." });
    }
    // Not a session id at all: the server names the field.
    expect(await failureOf(page, "revokeSession", ["not a session/.."])).toMatchObject({ isError: true, status: 400, code: "validation_error" });
    expect((await h.request("GET", "/api/dashboard/", bearer(stranger.data.tokens.access!))).status).toBe(200);
    expect((await state(page)).authenticated).toBe(true);
    expect((await listSessions(page)).data.sessions).toHaveLength(1);
  });

  it("logs out when it ends its own session, and the other tabs follow", async () => {
    const [page, other] = [await tabs.tab(0), await tabs.tab(1)];
    await registerIn(page, h);
    await eventually(() => state(other), (s) => s.authenticated);
    const refresh = (JSON.parse((await state(page)).stored!) as { refresh: string }).refresh;
    const own = (await listSessions(page)).data.sessions.find((s) => s.current)!;

    expect(await call(page, "revokeSession", own.id)).toMatchObject({ success: true, data: { revoked: true } });
    expect(await state(page)).toMatchObject({ authenticated: false, user: null, stored: null });
    expect((await state(page)).changes.at(-1)).toBe("logout:false");
    const followed = await eventually(() => state(other), (s) => !s.authenticated);
    expect(followed.changes.at(-1)).toBe("logout:false");
    expect((await h.request("POST", "/api/token/refresh/", { json: { refresh } })).status).toBe(403);
  });

  it("logs out every other session and keeps this one", async () => {
    const page = await tabs.tab(0);
    const { e164 } = await registerIn(page, h);
    const others = [await h.logIn(e164), await h.logIn(e164)];

    expect(await call(page, "logoutOthers")).toMatchObject({ success: true, data: { revoked: 2 } });
    for (const session of others) expect((await h.request("GET", "/api/dashboard/", bearer(session.tokens.access))).status).toBe(403);
    expect((await apiRequest(page, "/dashboard/")).status).toBe(200);
    expect((await listSessions(page)).data.sessions.map((s) => s.current)).toEqual([true]);
    expect((await getActivity(page)).data.events[0]).toMatchObject({ type: "session.logged_out_others" });
  });

  it("refreshes once and retries when the server finds the access token expired, for each method", async () => {
    const page = await tabs.tab(0);
    const { data, e164 } = await registerOverHttp(h);
    // The client believes its token good for another hour; the server decides.
    await adoptSessionHeldFresh(page, data);
    const expire = () => void (clock.offsetMs += h.config.tokens.accessLifetimeMs + 1_000);
    const elsewhere = await h.logIn(e164);
    const otherId = (await h.request("GET", "/api/sessions/", bearer(elsewhere.tokens.access))).body.data.sessions.find((s: Session) => s.current).id as string;
    await h.logIn(e164);

    const answers: Record<string, unknown> = {};
    for (const [method, args] of [["listSessions", []], ["getActivity", []], ["revokeSession", [otherId]], ["logoutOthers", []]] as const) {
      expire();
      const before = refreshes;
      const answer = await call<Record<string, unknown>>(page, method, ...args);
      expect({ method, success: answer.success, refreshes: refreshes - before }).toEqual({ method, success: true, refreshes: 1 });
      answers[method] = answer.data;
    }
    expect(answers.revokeSession).toEqual({ revoked: true });
    expect(answers.logoutOthers).toEqual({ revoked: 1 });
    expect((await state(page)).authenticated).toBe(true);
  });

  it("rejects every method with not_authenticated when signed out, sending nothing", async () => {
    const page = await tabs.tab(0);
    await page.evaluate(() => window.jwtClient!.setLanguage("en"));
    const sent: string[] = [];
    page.on("request", (request) => sent.push(request.url()));
    for (const [method, args] of [["listSessions", []], ["getActivity", []], ["revokeSession", ["A".repeat(22)]], ["logoutOthers", []]] as const) {
      expect(await failureOf(page, method, [...args])).toEqual({ name: "JwtClientError", isError: true, status: 401, code: "not_authenticated", message: "Not logged in." });
    }
    expect(sent).toEqual([]);
  });

  it("clears itself when the server says its session was ended elsewhere", async () => {
    const page = await tabs.tab(0);
    const { e164 } = await registerIn(page, h);
    const elsewhere = await h.logIn(e164);
    expect((await h.request("POST", "/api/logout-others/", bearer(elsewhere.tokens.access))).body.data.revoked).toBe(1);

    expect(await failureOf(page, "listSessions", [])).toMatchObject({ status: 403, code: "session_revoked" });
    const after = await state(page);
    expect(after).toMatchObject({ authenticated: false, stored: null });
    expect(after.changes.at(-1)).toBe("revoked:false");
  });
});
