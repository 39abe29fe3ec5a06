/**
 * A person's recent security activity over the bridge: `GET /api/activity/` (and
 * ListActivity in the Connect protocol), on real PostgreSQL and Redis. The events a
 * story through /api leaves, in the JSON shape (ISO 8601 times with milliseconds,
 * null for what an event lacks), with the browser's IP and User-Agent; only the
 * caller's own user.* and session.* events; every refusal.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEventJson } from "../bridge/api/json.js";
import { AuthService } from "../gen/identity/v1/auth_pb.js";
import { startBridgeHarness, type Answer, type BridgeHarness, type Session } from "./support/bridge-server.js";
import { freshPhone } from "./support/phones.js";
import { realStoresAvailable } from "./support/services.js";
import { jwtPayload } from "./support/tools.js";

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const LAPTOP = { ip: "203.0.113.10", userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0" };
const PHONE = { ip: "198.51.100.20", userAgent: "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/138.0 Mobile Safari/537.36" };

type Client = typeof LAPTOP;


/** A code of the same length that is not `code`. */
function wrong(code: string): string {
  return String((Number(code) + 1) % 10 ** code.length).padStart(code.length, "0");
}

describe.runIf(realStoresAvailable())("GET /api/activity/", () => {
  let h: BridgeHarness;
  const from = (client: Client, access?: string) => ({
    "x-forwarded-for": client.ip,
    "user-agent": client.userAgent,
    ...(access === undefined ? {} : { authorization: `Bearer ${access}` }),
  });
  const sidOf = (session: { access: string }) => String(jwtPayload(session.access).sid);

  beforeAll(async () => {
    // The test plays the front proxy, so each request comes from its own client;
    // every replay of a rotated refresh token is theft.
    h = await startBridgeHarness({ env: { TRUSTED_PROXIES: "127.0.0.1", OTP_RESEND_INTERVAL: "0s", OTP_MAX_PER_PHONE_PER_HOUR: "100", REFRESH_REUSE_INTERVAL: "0s" } });
  });
  afterAll(async () => {
    await h?.close();
  });

  async function ok(answer: Promise<Answer>, status = 200): Promise<Answer> {
    const settled = await answer;
    expect(settled.status, JSON.stringify(settled.body)).toBe(status);
    return settled;
  }

  async function signUpFrom(client: Client): Promise<Session> {
    const phone = freshPhone().local;
    const code = await h.codeFor(phone, "register");
    return (await ok(h.request("POST", "/api/register/", { json: { phone, code, first_name: "Sara", last_name: "Ahmadi" }, headers: from(client) }), 201)).body.data as Session;
  }

  async function logInFrom(phone: string, client: Client): Promise<Session["tokens"]> {
    const code = await h.codeFor(phone, "login");
    return ((await ok(h.request("POST", "/api/login/", { json: { phone, code }, headers: from(client) }))).body.data as Session).tokens;
  }

  async function activityOf(access: string, client: Client = LAPTOP): Promise<AuditEventJson[]> {
    return (await ok(h.request("GET", "/api/activity/", { headers: from(client, access) }))).body.data.events as AuditEventJson[];
  }

  it("answers the events a story through /api left, newest first, in the JSON shape, each with the client of its request", async () => {
    const laptop = await signUpFrom(LAPTOP);
    const { id: userId, phone } = laptop.user;
    const byUser = { user_id: userId, actor: `user:${userId}` };
    const on = (client: Client) => ({ ip: client.ip, user_agent: client.userAgent });

    // A mistyped code, then the right one, from the phone; a profile change there; its logout.
    const code = await h.codeFor(phone, "login");
    const refused = await h.request("POST", "/api/login/", { json: { phone, code: wrong(code) }, headers: from(PHONE) });
    expect(refused.body.data.code).toBe("otp_invalid");
    const onPhone = ((await ok(h.request("POST", "/api/login/", { json: { phone, code }, headers: from(PHONE) }))).body.data as Session).tokens;
    await ok(h.request("PATCH", "/api/profile/", { json: { first_name: "Mina" }, headers: from(PHONE, onPhone.access) }));
    await ok(h.request("POST", "/api/logout/", { json: { refresh: onPhone.refresh }, headers: from(PHONE) }));
    // The laptop's first refresh token, rotated, then replayed by someone else: theft.
    await ok(h.request("POST", "/api/token/refresh/", { json: { refresh: laptop.tokens.refresh }, headers: from(LAPTOP) }));
    const thief = { ip: "192.0.2.99", userAgent: "python-requests/2.32" };
    expect((await h.request("POST", "/api/token/refresh/", { json: { refresh: laptop.tokens.refresh }, headers: from(thief) })).body.data.code).toBe("token_blacklisted");
    // Back on the laptop: log in, then out of every device.
    const again = await logInFrom(phone, LAPTOP);
    expect((await ok(h.request("POST", "/api/logout-all/", { headers: from(LAPTOP, again.access) }))).body.data.revoked).toBe(1);
    const now = await logInFrom(phone, LAPTOP);

    const answer = await ok(h.request("GET", "/api/activity/", { headers: { ...from(LAPTOP, now.access), "accept-language": "en" } }));
    expect(answer.headers.get("x-authenticated")).toBe("true");
    expect(answer.body).toMatchObject({ success: true, message: "Your recent account activity." });
    const events = answer.body.data.events as AuditEventJson[];
    expect(events.map(({ id: _id, at: _at, ...event }) => event)).toEqual([
      { type: "user.logged_in", ...byUser, session_id: sidOf(now), ...on(LAPTOP), details: {} },
      { type: "session.logged_out_all", ...byUser, session_id: null, ...on(LAPTOP), details: { revoked: 1 } },
      { type: "user.logged_in", ...byUser, session_id: sidOf(again), ...on(LAPTOP), details: {} },
      { type: "session.reuse_detected", user_id: userId, actor: "system", session_id: sidOf(laptop.tokens), ...on(thief), details: {} },
      { type: "session.logged_out", ...byUser, session_id: sidOf(onPhone), ...on(PHONE), details: {} },
      { type: "user.profile_updated", ...byUser, session_id: null, ...on(PHONE), details: { fields: ["first_name"] } },
      { type: "user.logged_in", ...byUser, session_id: sidOf(onPhone), ...on(PHONE), details: {} },
      { type: "user.login_failed", ...byUser, session_id: null, ...on(PHONE), details: { reason: "otp_invalid" } },
      { type: "user.registered", ...byUser, session_id: sidOf(laptop.tokens), ...on(LAPTOP), details: {} },
    ]);
    for (const event of events) {
      expect(event.at).toMatch(ISO_MS);
      expect(event.id).toMatch(/^\d+$/);
    }
    const instants = events.map((e) => Date.parse(e.at ?? ""));
    expect(instants).toEqual([...instants].sort((a, b) => b - a));
    // No code ever, not even the mistyped one.
    expect(JSON.stringify(events)).not.toContain(code);
    expect(JSON.stringify(events)).not.toContain(wrong(code));
  });

  it("records the phone's lock as user.locked_out, by the system, from the client whose wrong code locked it", async () => {
    const { user, tokens } = await signUpFrom(LAPTOP);
    const guessers = ["203.0.113.81", "203.0.113.82", "203.0.113.83"].map((ip) => ({ ip, userAgent: `Guesser/${ip}` }));
    for (const guesser of guessers) {
      const code = await h.codeFor(user.phone, "login");
      for (let i = 0; i < 5; i++) await h.request("POST", "/api/login/", { json: { phone: user.phone, code: wrong(code) }, headers: from(guesser) });
    }
    const locked = await h.request("POST", "/api/login/", { json: { phone: user.phone, code: "123456" }, headers: from(PHONE) });
    expect({ status: locked.status, code: locked.body.data.code }).toEqual({ status: 429, code: "rate_limited" });

    const [newest, ...rest] = await activityOf(tokens.access);
    const last = guessers.at(-1)!;
    expect(newest).toMatchObject({ type: "user.locked_out", user_id: user.id, session_id: null, actor: "system", ip: last.ip, user_agent: last.userAgent, details: { retry_after: expect.any(Number) } });
    expect(rest.filter((e) => e.type === "user.login_failed")).toHaveLength(15);
  });

  it("shows only the caller's own user.* and session.* events, at most 50", async () => {
    const mine = await signUpFrom(LAPTOP);
    const theirs = await signUpFrom(PHONE);
    for (let i = 0; i < 52; i++) await ok(h.request("PATCH", "/api/profile/", { json: { last_name: `Ahmadi-${i}` }, headers: from(LAPTOP, mine.tokens.access) }));
    await ok(h.request("PATCH", "/api/profile/", { json: { last_name: "Karimi" }, headers: from(PHONE, theirs.tokens.access) }));
    await h.codeFor(mine.user.phone, "login"); // otp.sent, about me: not activity

    const events = await activityOf(mine.tokens.access);
    expect(events).toHaveLength(50);
    expect(new Set(events.map((e) => `${e.type} ${e.user_id}`))).toEqual(new Set([`user.profile_updated ${mine.user.id}`]));
    expect(events[0]!.details).toEqual({ fields: ["last_name"] });
    expect((await activityOf(theirs.tokens.access, PHONE)).map((e) => e.type)).toEqual(["user.profile_updated", "user.registered"]);
  });

  it("is the same list in the Connect protocol", async () => {
    const { tokens } = await signUpFrom(LAPTOP);
    const auth = createClient(AuthService, createConnectTransport({ baseUrl: h.url, httpVersion: "1.1" }));
    const { events } = await auth.listActivity({}, { headers: { authorization: `Bearer ${tokens.access}` } });
    const [json] = await activityOf(tokens.access);
    expect(events.map((e) => ({ id: e.id, type: e.type, sessionId: e.sessionId, ip: e.ip, userAgent: e.userAgent }))).toEqual([
      { id: json!.id, type: "user.registered", sessionId: sidOf(tokens), ip: LAPTOP.ip, userAgent: LAPTOP.userAgent },
    ]);
  });

  it("refuses without a token (401 not_authenticated), a refresh token (401 token_wrong_type), an ended session's token (403 session_revoked), and other methods (405)", async () => {
    const { tokens } = await signUpFrom(LAPTOP);
    const refusal = async (answer: Promise<Answer>) => {
      const { status, body } = await answer;
      expect(body.success).toBe(false);
      expect(body.message).not.toBe("");
      return { status, code: body.data.code };
    };
    expect(await refusal(h.request("GET", "/api/activity/"))).toEqual({ status: 401, code: "not_authenticated" });
    expect(await refusal(h.request("GET", "/api/activity/", { headers: { authorization: `Bearer ${tokens.refresh}` } }))).toEqual({ status: 401, code: "token_wrong_type" });
    expect(await refusal(h.request("POST", "/api/activity/", { headers: { authorization: `Bearer ${tokens.access}` } }))).toEqual({ status: 405, code: "method_not_allowed" });
    await ok(h.request("POST", "/api/logout/", { json: { refresh: tokens.refresh } }));
    expect(await refusal(h.request("GET", "/api/activity/", { headers: { authorization: `Bearer ${tokens.access}` } }))).toEqual({ status: 403, code: "session_revoked" });
  });
});
