/**
 * The browser client in Chromium, as a page uses it, against the bridge with the
 * service in-process on real PostgreSQL and Redis. Tokens live the usual hour and
 * server time is moved forward to expire them; a second bridge with 3 s access
 * tokens shows the background refresh happening by itself.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Identity } from "../src/app.js";
import { browserSuitesRun, launchChromium, openTabs, reload, type Tabs } from "./support/bridge-browser.js";
import { eventually } from "./support/eventually.js";
import {
  accessOf,
  apiRequest,
  failureOf,
  fiveParallelRequestsOneRefresh,
  logoutFollowsAcrossTabs,
  registerIn,
  registerLoginRequestLogout,
  SESSION_KEY,
  state,
} from "./support/bridge-flows.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { realStoresAvailable } from "./support/services.js";

/** The identity with its Refresh RPC counted (server side). */
function countingRefreshes(counter: { refreshes: number; at?: number[] }): (identity: Identity) => Identity {
  return (identity) => ({
    ...identity,
    token: { ...identity.token, refresh: (request, ctx) => (counter.refreshes++, counter.at?.push(Date.now()), identity.token.refresh(request, ctx)) },
  });
}

describe.runIf(realStoresAvailable() && browserSuitesRun)("browser client (in-process bridge)", () => {
  let h: BridgeHarness;
  let browser: Browser;
  let tabs: Tabs;
  const counter = { refreshes: 0 };
  // Server time only ever moves forward, so tokens issued after a jump stay valid.
  const clock = { offsetMs: 0, now: () => Date.now() + clock.offsetMs };

  beforeAll(async () => {
    [h, browser] = await Promise.all([startBridgeHarness({ build: { clock }, adapt: countingRefreshes(counter) }), launchChromium()]);
    tabs = await openTabs(browser, h.url);
  });
  afterAll(async () => {
    await tabs?.close();
    await browser?.close();
    await h?.close();
  });
  beforeEach(async () => {
    await tabs.reset();
  });

  it("registers, reads and edits the profile, logs out and in again", async () => {
    await registerLoginRequestLogout(tabs, h);
  });

  it("turns a server refusal into an Error with the server's message, status and code", async () => {
    const page = await tabs.tab(0);
    await page.evaluate(() => window.jwtClient!.setLanguage("en"));
    const failure = await failureOf(page, "sendOTP", ["12", "login"]);
    expect(failure).toEqual({ name: "JwtClientError", isError: true, status: 400, code: "invalid_phone", message: "The phone number is not a valid mobile number." });
  });

  it("refreshes once for five parallel requests on an expired token, and retries each", async () => {
    await fiveParallelRequestsOneRefresh(tabs, h, async () => void (clock.offsetMs += h.config.tokens.accessLifetimeMs + 1_000), () => counter.refreshes);
  });

  it("refreshes once across two tabs that want to at the same moment (Web Locks)", async () => {
    const [first, second] = [await tabs.tab(0), await tabs.tab(1)];
    await registerIn(first, h);
    await eventually(() => state(second), (s) => s.authenticated);
    const before = counter.refreshes;
    // Both tabs ask while a refresh is under way elsewhere: both wait for the lock.
    await first.evaluate(() => {
      void navigator.locks.request("jwt-client.refresh", () => new Promise<void>((release) => ((window as unknown as { release: () => void }).release = release)));
    });
    // Held by us before the tabs ask (a refresh of the client's own may hold it first,
    // and then "two waiting" could count ours and only one of theirs).
    await first.waitForFunction(() => typeof (window as unknown as { release?: unknown }).release === "function");
    const both = Promise.all([first.evaluate(() => window.jwtClient!.refreshToken()), second.evaluate(() => window.jwtClient!.refreshToken())]);
    await eventually(() => first.evaluate(async () => (await navigator.locks.query()).pending?.length ?? 0), (waiting) => waiting === 2);
    await first.evaluate(() => (window as unknown as { release: () => void }).release());
    await both;
    expect(counter.refreshes - before).toBe(1);
    expect(await accessOf(first)).toBe(await accessOf(second));
    expect((await apiRequest(second, "/dashboard/")).status).toBe(200);
  });

  it("keeps the session over a reload", async () => {
    const page = await tabs.tab(0);
    const { e164 } = await registerIn(page, h);
    await reload(page);
    expect(await state(page)).toMatchObject({ authenticated: true, user: { phone: e164 } });
    expect((await apiRequest(page, "/dashboard/")).status).toBe(200);
  });

  it("logs out in every tab when one tab logs out", async () => {
    await logoutFollowsAcrossTabs(tabs, h);
  });

  it("clears itself and tells its listeners when the session is revoked elsewhere (logout-all)", async () => {
    const page = await tabs.tab(0);
    const { e164 } = await registerIn(page, h);
    const elsewhere = await h.logIn(e164);
    const all = await h.request("POST", "/api/logout-all/", { headers: { authorization: `Bearer ${elsewhere.tokens.access}` } });
    expect(all.body.data.revoked).toBe(2);

    const answer = await apiRequest(page, "/dashboard/");
    expect(answer.status).toBe(403);
    expect(answer.body.data.code).toBe("session_revoked");
    const after = await state(page);
    expect(after).toMatchObject({ authenticated: false, user: null, stored: null });
    expect(after.changes.at(-1)).toBe("revoked:false");
  });

  it("rejects with a clear error on a network failure and stays logged in", async () => {
    const page = await tabs.tab(0);
    await registerIn(page, h);
    await page.evaluate(() => window.jwtClient!.setLanguage("en"));
    await tabs.context.route(`${h.url}/api/dashboard/`, (route) => route.abort("internetdisconnected"));
    try {
      const failure = await failureOf(page, "apiRequest", ["/dashboard/"]);
      expect(failure).toMatchObject({ status: 0, code: "network_error", message: "Could not reach the server. Check your connection and try again." });
      expect((await state(page)).authenticated).toBe(true);
    } finally {
      await tabs.context.unroute(`${h.url}/api/dashboard/`);
    }
    expect((await apiRequest(page, "/dashboard/")).status).toBe(200);
    expect(await page.evaluate((key) => localStorage.getItem(key) !== null, SESSION_KEY)).toBe(true);
  });

  describe("with 3 s access tokens", () => {
    let short: BridgeHarness;
    let shortTabs: Tabs;
    const shortCounter = { refreshes: 0, at: [] as number[] };

    beforeAll(async () => {
      short = await startBridgeHarness({ env: { ACCESS_TOKEN_LIFETIME: "3s" }, adapt: countingRefreshes(shortCounter) });
      shortTabs = await openTabs(browser, short.url);
    });
    afterAll(async () => {
      await shortTabs?.close();
      await short?.close();
    });
    beforeEach(async () => {
      await shortTabs.reset();
    });

    it("refreshes the access token in the background before it expires, once for all tabs", async () => {
      const [page, other] = [await shortTabs.tab(0), await shortTabs.tab(1)];
      const since = shortCounter.at.length;
      await registerIn(page, short);
      const first = await accessOf(page);
      await eventually(() => accessOf(page), (access) => access !== null && access !== first, { withinMs: 6_000 });
      await eventually(async () => [await accessOf(page), await accessOf(other)], ([a, b]) => a === b);
      expect((await state(page)).changes).toContain("refresh:true");
      expect((await apiRequest(page, "/dashboard/")).status).toBe(200);
      // Refreshes come one per cycle (about 1.6 s apart with 3 s tokens), never two at once
      // from the two tabs, however late this test looked.
      const at = shortCounter.at.slice(since);
      expect(at.length).toBeGreaterThanOrEqual(1);
      for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThan(800);
    });

    it("clears itself when the background refresh is refused, in every tab", async () => {
      const [page, other] = [await shortTabs.tab(0), await shortTabs.tab(1)];
      const { e164 } = await registerIn(page, short);
      // Both tabs hold the session first (the other learns it from the storage event),
      // or the other would count as cleared before it ever was signed in.
      await eventually(() => state(other), (s) => s.authenticated, { withinMs: 5_000 });
      const elsewhere = await short.logIn(e164);
      await short.request("POST", "/api/logout-all/", { headers: { authorization: `Bearer ${elsewhere.tokens.access}` } });
      const after = await Promise.all([page, other].map((tab) => eventually(() => state(tab), (s) => !s.authenticated, { withinMs: 5_000 })));
      // The tab whose refresh was refused says why; the other follows it (as a logout).
      const last = after.map((s) => s.changes.at(-1));
      expect(last).toContain("revoked:false");
      for (const change of last) expect(["revoked:false", "logout:false"]).toContain(change);
    });
  });
});
