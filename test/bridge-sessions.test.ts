/**
 * Sessions a person can see and end, over the bridge: `GET /api/sessions/`,
 * `DELETE /api/sessions/{id}/`, `POST /api/logout-others/` and the same RPCs in the
 * Connect protocol, on real PostgreSQL and Redis; each success shape, every refusal,
 * and the browser's IP and User-Agent reaching the session, in one process and
 * across the split deployment (a bridge process in front of a gRPC process).
 */
import { request as httpRequest } from "node:http";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../gen/identity/v1/auth_pb.js";
import { startSplitDeployment, type SplitDeployment } from "./support/bridge-processes.js";
import { requester, startBridgeHarness, type Answer, type BridgeHarness, type Session } from "./support/bridge-server.js";
import { failure } from "./support/grpc-harness.js";
import { freshPhone, type Phone } from "./support/phones.js";
import { realStoresAvailable } from "./support/services.js";
import { jwtPayload } from "./support/tools.js";

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const APP_ORIGIN = "https://app.example.com";
const LAPTOP = { ip: "203.0.113.10", userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0" };
const PHONE = { ip: "198.51.100.20", userAgent: "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/138.0 Mobile Safari/537.36" };

type Client = typeof LAPTOP;

/** POSTs `json` with no User-Agent header at all (node:http: fetch always sends one
 * of its own); resolves to the answer's `data`. */
function postWithoutUserAgent(url: string, json: unknown): Promise<Session> {
  const body = JSON.stringify(json);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk)).on("end", () => resolve((JSON.parse(text) as { data: Session }).data));
    });
    req.on("error", reject).end(body);
  });
}

describe.runIf(realStoresAvailable())("sessions over the bridge", () => {
  let h: BridgeHarness;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const from = (client: Client) => ({ "x-forwarded-for": client.ip, "user-agent": client.userAgent });
  const sidOf = (session: Session) => jwtPayload(session.tokens.access).sid as string;

  beforeAll(async () => {
    // The test plays the front proxy, so each request can come from its own address.
    h = await startBridgeHarness({ env: { TRUSTED_PROXIES: "127.0.0.1", CORS_ORIGINS: APP_ORIGIN, OTP_RESEND_INTERVAL: "0s" } });
  });
  afterAll(async () => {
    await h?.close();
  });

  function expectRefusal(answer: Answer, status: number, code: string): void {
    expect({ status: answer.status, success: answer.body.success, code: answer.body.data.code }).toEqual({ status, success: false, code });
    expect(answer.body.message).not.toBe("");
  }

  async function signUpFrom(client: Client): Promise<Session> {
    const phone = freshPhone().local;
    const code = await h.codeFor(phone, "register");
    const answer = await h.request("POST", "/api/register/", { json: { phone, code, first_name: "Sara", last_name: "Ahmadi" }, headers: from(client) });
    expect(answer.status).toBe(201);
    return answer.body.data as Session;
  }

  async function logInFrom(phone: string, client: Client): Promise<Session> {
    const code = await h.codeFor(phone, "login");
    const answer = await h.request("POST", "/api/login/", { json: { phone, code }, headers: from(client) });
    expect(answer.status).toBe(200);
    return answer.body.data as Session;
  }

  const sessionsOf = async (access: string) => {
    const answer = await h.request("GET", "/api/sessions/", { headers: bearer(access) });
    expect(answer.status).toBe(200);
    return answer.body.data.sessions as { id: string; ip: string | null; user_agent: string | null; current: boolean; last_used_at: string }[];
  };

  describe("GET /api/sessions/", () => {
    it("lists the caller's live sessions, most recently used first, with their client, the current one marked", async () => {
      const laptop = await signUpFrom(LAPTOP);
      const phone = await logInFrom(laptop.user.phone, PHONE);
      const answer = await h.request("GET", "/api/sessions/", { headers: { ...bearer(laptop.tokens.access), "accept-language": "en" } });
      expect(answer.status).toBe(200);
      expect(answer.headers.get("x-authenticated")).toBe("true");
      expect(Number(answer.headers.get("x-token-expires-at")) * 1000).toBe(Date.parse(laptop.tokens.access_expires_at));
      expect(answer.body).toEqual({
        success: true,
        message: "Your active sessions.",
        data: {
          sessions: [
            { id: sidOf(phone), created_at: expect.stringMatching(ISO), last_used_at: expect.stringMatching(ISO), expires_at: expect.stringMatching(ISO), ip: PHONE.ip, user_agent: PHONE.userAgent, current: false },
            { id: sidOf(laptop), created_at: expect.stringMatching(ISO), last_used_at: expect.stringMatching(ISO), expires_at: expect.stringMatching(ISO), ip: LAPTOP.ip, user_agent: LAPTOP.userAgent, current: true },
          ],
        },
      });
      const [first] = answer.body.data.sessions;
      expect(first.last_used_at).toBe(first.created_at);
      expect(Date.parse(first.expires_at) - Date.parse(first.created_at)).toBe(h.config.tokens.sessionMaxLifetimeMs);
    });

    it("records the client of a refresh, and nothing of an access-token use", async () => {
      const laptop = await signUpFrom(LAPTOP);
      const [before] = await sessionsOf(laptop.tokens.access);
      await h.request("GET", "/api/dashboard/", { headers: { ...bearer(laptop.tokens.access), ...from(PHONE) } });
      expect(await sessionsOf(laptop.tokens.access)).toEqual([before]);

      const refreshed = await h.request("POST", "/api/token/refresh/", { json: { refresh: laptop.tokens.refresh }, headers: from(PHONE) });
      expect(refreshed.status).toBe(200);
      const [after] = await sessionsOf(refreshed.body.data.access);
      expect(after).toMatchObject({ id: before!.id, ip: PHONE.ip, user_agent: PHONE.userAgent });
      expect(Date.parse(after!.last_used_at)).toBeGreaterThanOrEqual(Date.parse(before!.last_used_at));
    });

    it("shows a User-Agent the browser did not send as null, and cuts a long one to 256 characters", async () => {
      const phone = freshPhone().local;
      const code = await h.codeFor(phone, "register");
      const registered = await postWithoutUserAgent(`${h.url}/api/register/`, { phone, code, first_name: "", last_name: "" });
      expect(await sessionsOf(registered.tokens.access)).toMatchObject([{ ip: "127.0.0.1", user_agent: null }]);

      const long = await logInFrom(registered.user.phone, { ip: LAPTOP.ip, userAgent: `Agent/${"x".repeat(400)}` });
      expect((await sessionsOf(long.tokens.access))[0]).toMatchObject({ user_agent: `Agent/${"x".repeat(250)}` });
    });

    it("needs a Bearer token: 401 not_authenticated, token_not_valid", async () => {
      expectRefusal(await h.request("GET", "/api/sessions/"), 401, "not_authenticated");
      expectRefusal(await h.request("GET", "/api/sessions/", { headers: bearer("garbage") }), 401, "token_not_valid");
    });
  });

  describe("DELETE /api/sessions/{id}/", () => {
    it("ends one of the caller's sessions: 200 {revoked: true}; that device's access token is refused at once, its refresh token too", async () => {
      const laptop = await signUpFrom(LAPTOP);
      const phone = await logInFrom(laptop.user.phone, PHONE);
      expect((await h.request("GET", "/api/dashboard/", { headers: bearer(phone.tokens.access) })).status).toBe(200);

      const answer = await h.request("DELETE", `/api/sessions/${sidOf(phone)}/`, { headers: { ...bearer(laptop.tokens.access), "accept-language": "en" } });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ success: true, message: "The session was ended.", data: { revoked: true } });
      expect(answer.headers.get("x-authenticated")).toBe("true");
      expectRefusal(await h.request("GET", "/api/dashboard/", { headers: bearer(phone.tokens.access) }), 403, "session_revoked");
      expectRefusal(await h.request("POST", "/api/token/verify/", { json: { token: phone.tokens.access } }), 403, "session_revoked");
      expectRefusal(await h.request("POST", "/api/token/refresh/", { json: { refresh: phone.tokens.refresh } }), 403, "session_revoked");
      expect((await sessionsOf(laptop.tokens.access)).map((s) => s.id)).toEqual([sidOf(laptop)]);
    });

    it("ends the caller's own current session, as logout does (the path works without its trailing slash)", async () => {
      const laptop = await signUpFrom(LAPTOP);
      expect((await h.request("DELETE", `/api/sessions/${sidOf(laptop)}`, { headers: bearer(laptop.tokens.access) })).status).toBe(200);
      expectRefusal(await h.request("GET", "/api/sessions/", { headers: bearer(laptop.tokens.access) }), 403, "session_revoked");
      expectRefusal(await h.request("POST", "/api/token/refresh/", { json: { refresh: laptop.tokens.refresh } }), 403, "session_revoked");
    });

    it("answers an unknown id, another user's session and an ended one alike: 404 not_found, and ends nothing", async () => {
      const me = await signUpFrom(LAPTOP);
      const stranger = await signUpFrom(PHONE);
      const ended = await logInFrom(me.user.phone, PHONE);
      expect((await h.request("POST", "/api/logout/", { json: { refresh: ended.tokens.refresh } })).status).toBe(200);

      const bodies = [];
      for (const id of ["AAAAAAAAAAAAAAAAAAAAAA", sidOf(stranger), sidOf(ended)]) {
        const answer = await h.request("DELETE", `/api/sessions/${id}/`, { headers: bearer(me.tokens.access) });
        expectRefusal(answer, 404, "not_found");
        bodies.push(answer.body);
      }
      expect(bodies[1]).toEqual(bodies[0]);
      expect(bodies[2]).toEqual(bodies[0]);
      expect((await h.request("GET", "/api/dashboard/", { headers: bearer(stranger.tokens.access) })).status).toBe(200);
      expect(await sessionsOf(stranger.tokens.access)).toHaveLength(1);
      expect(await sessionsOf(me.tokens.access)).toHaveLength(1);
    });

    it("refuses what is not a session id with 400 validation_error naming session_id", async () => {
      const me = await signUpFrom(LAPTOP);
      for (const id of ["short", "A".repeat(23), "AAAAAAAAAAAAAAAAAAAAA%3D", "AAAAAAAAAAAAAAAAAAAAA%2B", "%20AAAAAAAAAAAAAAAAAAAAA"]) {
        const answer = await h.request("DELETE", `/api/sessions/${id}/`, { headers: bearer(me.tokens.access) });
        expectRefusal(answer, 400, "validation_error");
        expect(answer.body.data.field).toBe("session_id");
      }
      expect(await sessionsOf(me.tokens.access)).toHaveLength(1);
    });

    it("needs a Bearer token, checked before the id: 401", async () => {
      const me = await signUpFrom(LAPTOP);
      expectRefusal(await h.request("DELETE", `/api/sessions/${sidOf(me)}/`), 401, "not_authenticated");
      expectRefusal(await h.request("DELETE", "/api/sessions/short/"), 401, "not_authenticated");
      expectRefusal(await h.request("DELETE", `/api/sessions/${sidOf(me)}/`, { headers: bearer(me.tokens.refresh) }), 401, "token_wrong_type");
      expect(await sessionsOf(me.tokens.access)).toHaveLength(1);
    });
  });

  describe("POST /api/logout-others/", () => {
    it("ends every session but the current one: 200 {revoked}; theirs are refused at once", async () => {
      const laptop = await signUpFrom(LAPTOP);
      const phone = await logInFrom(laptop.user.phone, PHONE);
      const tablet = await logInFrom(laptop.user.phone, PHONE);
      const answer = await h.request("POST", "/api/logout-others/", { headers: { ...bearer(laptop.tokens.access), "accept-language": "en" } });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ success: true, message: "Logged out of every other device.", data: { revoked: 2 } });
      expect(answer.headers.get("x-authenticated")).toBe("true");
      for (const other of [phone, tablet]) {
        expectRefusal(await h.request("GET", "/api/dashboard/", { headers: bearer(other.tokens.access) }), 403, "session_revoked");
        expectRefusal(await h.request("POST", "/api/token/refresh/", { json: { refresh: other.tokens.refresh } }), 403, "session_revoked");
      }
      expect(await sessionsOf(laptop.tokens.access)).toMatchObject([{ id: sidOf(laptop), current: true }]);
      expect((await h.request("POST", "/api/logout-others/", { headers: bearer(laptop.tokens.access) })).body.data).toEqual({ revoked: 0 });
    });

    it("needs a Bearer token: 401 not_authenticated", async () => {
      expectRefusal(await h.request("POST", "/api/logout-others/"), 401, "not_authenticated");
    });
  });

  describe("methods and CORS on the new paths", () => {
    it("answers OPTIONS with 204 and Allow, and another method with 405 method_not_allowed and Allow", async () => {
      const id = "AAAAAAAAAAAAAAAAAAAAAA";
      for (const [path, allow] of [["/api/sessions/", "GET, HEAD, OPTIONS"], [`/api/sessions/${id}/`, "DELETE, OPTIONS"], ["/api/logout-others/", "POST, OPTIONS"]] as const) {
        const options = await fetch(`${h.url}${path}`, { method: "OPTIONS" });
        expect({ path, status: options.status, allow: options.headers.get("allow") }).toEqual({ path, status: 204, allow });
      }
      for (const [method, path, allow] of [["POST", "/api/sessions/", "GET, HEAD, OPTIONS"], ["DELETE", "/api/sessions/", "GET, HEAD, OPTIONS"], ["GET", `/api/sessions/${id}/`, "DELETE, OPTIONS"], ["GET", "/api/logout-others/", "POST, OPTIONS"]] as const) {
        const answer = await h.request(method, path);
        expectRefusal(answer, 405, "method_not_allowed");
        expect(answer.headers.get("allow")).toBe(allow);
      }
      expectRefusal(await h.request("DELETE", `/api/sessions/${id}/more/`), 404, "not_found");
    });

    it("allows DELETE to an allowed origin's preflight", async () => {
      const response = await fetch(`${h.url}/api/sessions/AAAAAAAAAAAAAAAAAAAAAA/`, {
        method: "OPTIONS",
        headers: { origin: APP_ORIGIN, "access-control-request-method": "DELETE", "access-control-request-headers": "authorization" },
      });
      expect(response.status).toBe(204);
      expect(response.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
      expect(response.headers.get("access-control-allow-methods")).toMatch(/\bDELETE\b/);
    });
  });

  describe("the Connect protocol", () => {
    it("lists, ends one and ends the others, recording the caller's User-Agent; unknown ids are NOT_FOUND not_found", async () => {
      const auth = createClient(AuthService, createConnectTransport({ baseUrl: h.url, httpVersion: "1.1" }));
      const phone = freshPhone();
      await h.codeFor(phone.local, "register");
      const typed = { headers: { "user-agent": "typed-web-app/3.1", "x-forwarded-for": LAPTOP.ip } };
      const registered = await auth.register({ phone: phone.local, code: h.inbox.codeFor(phone.e164, "register"), firstName: "Nima" }, typed);
      const access = registered.tokens!.access;
      const second = await logInFrom(phone.local, PHONE);
      const third = await logInFrom(phone.local, PHONE);
      const caller = { headers: bearer(access) };

      const listed = await auth.listSessions({}, caller);
      expect(listed.sessions.map((s) => ({ id: s.id, ip: s.ip, userAgent: s.userAgent, current: s.current }))).toEqual([
        { id: sidOf(third), ip: PHONE.ip, userAgent: PHONE.userAgent, current: false },
        { id: sidOf(second), ip: PHONE.ip, userAgent: PHONE.userAgent, current: false },
        { id: jwtPayload(access).sid, ip: LAPTOP.ip, userAgent: "typed-web-app/3.1", current: true },
      ]);

      await auth.revokeSession({ sessionId: sidOf(second) }, caller);
      expect(await failure(auth.revokeSession({ sessionId: sidOf(second) }, caller))).toMatchObject({ code: 5, reason: "not_found" });
      expect(await failure(auth.revokeSession({ sessionId: "" }, caller))).toMatchObject({ code: 3, reason: "validation_error", metadata: { field: "session_id" } });
      expect((await auth.logoutOthers({}, caller)).revoked).toBe(1);
      expect((await auth.listSessions({}, caller)).sessions).toHaveLength(1);
      expect(await failure(auth.listSessions({}))).toMatchObject({ code: 16, reason: "not_authenticated" });
    });
  });
});

describe.runIf(realStoresAvailable())("a split deployment (bridge process → gRPC process) passes the browser's IP and User-Agent on", () => {
  let split: SplitDeployment;
  let request: BridgeHarness["request"];

  beforeAll(async () => {
    split = await startSplitDeployment({ OTP_RESEND_INTERVAL: "0s" });
    request = requester(split.url);
  });
  afterAll(async () => {
    await split?.close();
  });

  async function codeFor(phone: Phone, purpose: "register" | "login"): Promise<string> {
    expect((await request("POST", "/api/send-otp/", { json: { phone: phone.local, purpose } })).status).toBe(200);
    return split.inbox.codeFor(phone.e164, purpose);
  }

  const sessionsOf = async (access: string) => (await request("GET", "/api/sessions/", { headers: { authorization: `Bearer ${access}` } })).body.data.sessions;

  it("records the browser's IP and User-Agent at registration and refresh through /api, and in the Connect protocol", async () => {
    const phone = freshPhone();
    const code = await codeFor(phone, "register");
    const headers = { "x-forwarded-for": LAPTOP.ip, "user-agent": LAPTOP.userAgent };
    const registered = await request("POST", "/api/register/", { json: { phone: phone.local, code, first_name: "Sara", last_name: "" }, headers });
    expect(registered.status).toBe(201);
    const laptop = registered.body.data as Session;
    expect(await sessionsOf(laptop.tokens.access)).toMatchObject([{ ip: LAPTOP.ip, user_agent: LAPTOP.userAgent, current: true }]);

    const refreshed = await request("POST", "/api/token/refresh/", { json: { refresh: laptop.tokens.refresh }, headers: { "x-forwarded-for": PHONE.ip, "user-agent": PHONE.userAgent } });
    expect(await sessionsOf(refreshed.body.data.access)).toMatchObject([{ ip: PHONE.ip, user_agent: PHONE.userAgent }]);

    const auth = createClient(AuthService, createConnectTransport({ baseUrl: split.url, httpVersion: "1.1" }));
    const loginCode = await codeFor(phone, "login");
    const typed = await auth.login({ phone: phone.local, code: loginCode }, { headers: { "user-agent": "typed-web-app/3.1", "x-forwarded-for": PHONE.ip } });
    expect((await sessionsOf(typed.tokens!.access))[0]).toMatchObject({ ip: PHONE.ip, user_agent: "typed-web-app/3.1", current: true });
  });

  it("records no User-Agent when the browser sent none, not the bridge's own", async () => {
    const phone = freshPhone();
    const code = await codeFor(phone, "register");
    const registered = await postWithoutUserAgent(`${split.url}/api/register/`, { phone: phone.local, code, first_name: "", last_name: "" });
    expect(await sessionsOf(registered.tokens.access)).toMatchObject([{ ip: "127.0.0.1", user_agent: null }]);
  });

  it("ends a session through the bridge, refused at once upstream", async () => {
    const phone = freshPhone();
    const registered = (await request("POST", "/api/register/", { json: { phone: phone.local, code: await codeFor(phone, "register"), first_name: "", last_name: "" } })).body.data as Session;
    const other = (await request("POST", "/api/login/", { json: { phone: phone.local, code: await codeFor(phone, "login") } })).body.data as Session;
    const sid = jwtPayload(other.tokens.access).sid as string;
    const answer = await request("DELETE", `/api/sessions/${sid}/`, { headers: { authorization: `Bearer ${registered.tokens.access}` } });
    expect({ status: answer.status, data: answer.body.data }).toEqual({ status: 200, data: { revoked: true } });
    const refused = await request("GET", "/api/dashboard/", { headers: { authorization: `Bearer ${other.tokens.access}` } });
    expect({ status: refused.status, code: refused.body.data.code }).toEqual({ status: 403, code: "session_revoked" });
    const again = await request("DELETE", `/api/sessions/${sid}/`, { headers: { authorization: `Bearer ${registered.tokens.access}` } });
    expect({ status: again.status, code: again.body.data.code }).toEqual({ status: 404, code: "not_found" });
  });
});
