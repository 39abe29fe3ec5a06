/**
 * The browser client's logic in Node, against a scripted fake of `/api` (the
 * browser suites run it against the real bridge): refusals as Errors, single-flight
 * refresh with one retry, what ends a session and what does not, memory-only and
 * failing storage, timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createJwtClient, type AuthChange, type JwtClient, JwtClientError } from "../bridge/client/jwt-client.js";

const USER = { id: "u1", phone: "+989120000000", first_name: "Sara", last_name: "Ahmadi", is_staff: false, date_joined: "2026-01-01T00:00:00.000Z", last_login: null };

function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "ES256" })}.${part(claims)}.sig`;
}

/** A fake `/api`: access tokens `a<n>` / refresh tokens `r<n>`, the newest pair valid. */
function fakeApi(lifetimeS = 3600) {
  let generation = 0;
  const api = {
    refreshes: 0,
    requests: [] as string[],
    /** What the refresh endpoint answers instead of new tokens. */
    refuseRefresh: undefined as { status: number; code: string } | undefined,
    /** What the dashboard answers regardless of the token. */
    dashboard: undefined as { status: number; code: string } | undefined,
    offline: false,
    tokens() {
      generation++;
      const iat = Math.floor(Date.now() / 1000);
      return {
        access: jwt({ n: generation, kind: "access", iat, exp: iat + lifetimeS }),
        refresh: jwt({ n: generation, kind: "refresh", iat, exp: iat + 7 * 86400 }),
        access_expires_at: new Date((iat + lifetimeS) * 1000).toISOString(),
        refresh_expires_at: new Date((iat + 7 * 86400) * 1000).toISOString(),
      };
    },
    current: { access: "", refresh: "" },
    fetch: async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      if (api.offline) throw new TypeError("Failed to fetch");
      const path = new URL(String(input), "http://app.example").pathname;
      api.requests.push(path);
      const body = typeof init?.body === "string" ? (JSON.parse(init.body) as Record<string, string>) : {};
      const bearer = new Headers(init?.headers).get("authorization")?.replace("Bearer ", "");
      const envelope = (status: number, data: object, message = status < 400 ? "ok" : "refused") =>
        new Response(JSON.stringify({ success: status < 400, message, data }), { status, headers: { "content-type": "application/json" } });
      switch (path) {
        case "/api/login/": {
          if (body.code !== "123456") return envelope(400, { code: "otp_invalid" }, "The verification code is incorrect.");
          const tokens = api.tokens();
          api.current = tokens;
          return envelope(200, { user: USER, tokens });
        }
        case "/api/token/refresh/": {
          api.refreshes++;
          await new Promise((resolve) => setImmediate(resolve));
          if (api.refuseRefresh) return envelope(api.refuseRefresh.status, { code: api.refuseRefresh.code });
          if (body.refresh !== api.current.refresh) return envelope(403, { code: "token_blacklisted" });
          const tokens = api.tokens();
          api.current = tokens;
          return envelope(200, tokens);
        }
        case "/api/dashboard/":
          if (api.dashboard) return envelope(api.dashboard.status, { code: api.dashboard.code });
          if (bearer === undefined) return envelope(401, { code: "not_authenticated" });
          if (bearer !== api.current.access) return envelope(401, { code: "token_expired" });
          return envelope(200, { user: USER });
        case "/api/logout/":
          return envelope(200, {});
        default:
          return envelope(404, { code: "not_found" });
      }
    },
  };
  return api;
}

function memoryStorage(failWrites = false): Storage {
  const map = new Map<string, string>();
  return {
    get length() {
      return map.size;
    },
    clear: () => map.clear(),
    getItem: (key) => map.get(key) ?? null,
    key: (index) => [...map.keys()][index] ?? null,
    removeItem: (key) => void map.delete(key),
    setItem: (key, value) => {
      if (failWrites) throw new DOMException("quota", "QuotaExceededError");
      map.set(key, value);
    },
  };
}

describe("the browser client's logic", () => {
  let changes: string[];
  const watch = (client: JwtClient) => client.onAuthChange((c: AuthChange) => changes.push(`${c.reason}:${c.authenticated}`));

  beforeEach(() => {
    changes = [];
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("works with no storage at all (memory only)", async () => {
    const api = fakeApi();
    const client = createJwtClient({ storage: null, fetch: api.fetch, baseUrl: "http://app.example/api" });
    watch(client);
    expect(client.isAuthenticated()).toBe(false);
    const envelope = await client.login("09120000000", "123456");
    expect(envelope.data.user.id).toBe("u1");
    expect(client.getUserData()).toEqual(USER);
    expect((await client.apiRequest("/dashboard/")).status).toBe(200);
    await client.logout();
    expect(changes).toEqual(["login:true", "logout:false"]);
  });

  it("rejects a refusal with an Error carrying the server's message, status and code", async () => {
    const client = createJwtClient({ storage: null, fetch: fakeApi().fetch });
    const error = await client.login("09120000000", "000000").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(JwtClientError);
    expect(error).toMatchObject({ message: "The verification code is incorrect.", status: 400, code: "otp_invalid" });
  });

  it("refreshes once for five requests that meet 401 together, and retries each once", async () => {
    const api = fakeApi();
    const client = createJwtClient({ storage: memoryStorage(), fetch: api.fetch });
    await client.login("09120000000", "123456");
    api.current = { access: "revoked-by-time", refresh: api.current.refresh };
    const statuses = await Promise.all([1, 2, 3, 4, 5].map(() => client.apiRequest("/dashboard/").then((r) => r.status)));
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect(api.refreshes).toBe(1);
    expect(api.requests.filter((p) => p === "/api/dashboard/")).toHaveLength(10);
  });

  it("clears itself and says why when the refresh is refused", async () => {
    const api = fakeApi();
    const storage = memoryStorage();
    const client = createJwtClient({ storage, fetch: api.fetch });
    watch(client);
    await client.login("09120000000", "123456");
    api.refuseRefresh = { status: 403, code: "session_revoked" };
    await expect(client.refreshToken()).rejects.toMatchObject({ status: 403, code: "session_revoked" });
    expect(client.isAuthenticated()).toBe(false);
    expect(storage.length).toBe(0);
    expect(changes.at(-1)).toBe("revoked:false");
  });

  it("clears itself on a 403 token_blacklisted or session_revoked answer", async () => {
    const api = fakeApi();
    const client = createJwtClient({ storage: memoryStorage(), fetch: api.fetch });
    await client.login("09120000000", "123456");
    api.dashboard = { status: 403, code: "token_blacklisted" };
    expect((await client.apiRequest("/dashboard/")).status).toBe(403);
    expect(client.isAuthenticated()).toBe(false);
  });

  it("keeps the session through network failures, 5xx and 429, and says what happened", async () => {
    const api = fakeApi();
    const client = createJwtClient({ storage: memoryStorage(), fetch: api.fetch, language: "en" });
    await client.login("09120000000", "123456");
    api.offline = true;
    await expect(client.apiRequest("/dashboard/")).rejects.toMatchObject({ status: 0, code: "network_error", message: expect.stringContaining("Could not reach the server") });
    await expect(client.refreshToken()).rejects.toMatchObject({ code: "network_error" });
    api.offline = false;
    for (const refusal of [{ status: 503, code: "service_unavailable" }, { status: 429, code: "rate_limited" }]) {
      api.refuseRefresh = refusal;
      await expect(client.refreshToken()).rejects.toMatchObject(refusal);
      expect(client.isAuthenticated()).toBe(true);
    }
  });

  it("goes on working in this tab when the storage refuses writes", async () => {
    const api = fakeApi();
    const client = createJwtClient({ storage: memoryStorage(true), fetch: api.fetch });
    await client.login("09120000000", "123456");
    await client.refreshToken();
    expect(client.isAuthenticated()).toBe(true);
    expect((await client.apiRequest("/dashboard/")).status).toBe(200);
  });

  it("picks up a stored session and refreshes it in the background before it expires", async () => {
    const api = fakeApi(100);
    const storage = memoryStorage();
    await createJwtClient({ storage, fetch: api.fetch }).login("09120000000", "123456");

    const client = createJwtClient({ storage, fetch: api.fetch });
    watch(client);
    expect(client.isAuthenticated()).toBe(true);
    // Lifetime 100 s counted as 99 s from receipt; a fifth of it before the end.
    await vi.advanceTimersByTimeAsync(70_000);
    expect(api.refreshes).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(api.refreshes).toBeGreaterThanOrEqual(1);
    expect(changes).toContain("refresh:true");
    expect((await client.apiRequest("/dashboard/")).status).toBe(200);
  });
});
