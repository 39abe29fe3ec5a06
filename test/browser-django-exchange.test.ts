/**
 * The cut-over as a person's browser lives it, in Chromium: the page's jwtClient
 * holds the tokens the Django system issued (stored the way the client stores
 * tokens); the front end now talks to the bridge. Its next call is refused (the
 * Django access token is not ours), the client refreshes once, the refresh
 * exchanges the Django refresh token, and the call succeeds: no one logs in again.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserSuitesRun, launchChromium, openTabs, type Tabs } from "./support/bridge-browser.js";
import { accessOf, adoptSessionHeldFresh, apiRequest, SESSION_KEY, state } from "./support/bridge-flows.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { djangoSuitesRun, freshDjangoDatabase, type DjangoSystem, type DjangoTokens } from "./support/django.js";
import { identity } from "./support/cli.js";
import { realStoresAvailable } from "./support/services.js";

describe.runIf(realStoresAvailable() && browserSuitesRun && djangoSuitesRun)("a browser logged in on the Django system, across the cut-over", () => {
  let django: DjangoSystem;
  let h: BridgeHarness;
  let browser: Browser;
  let tabs: Tabs;
  /** The Django id of the person, and the tokens the Django system gave their browser. */
  let djangoId: number;
  let held: DjangoTokens;

  beforeAll(async () => {
    [django, browser] = await Promise.all([freshDjangoDatabase(), launchChromium()]);
    h = await startBridgeHarness({ env: { LEGACY_SIMPLEJWT_SIGNING_KEY: django.signingKey } });
    tabs = await openTabs(browser, h.url);
    [djangoId] = (await django.users([{ phone: "09121110031", first_name: "Sara", last_name: "Ahmadi" }])) as [number];
    held = await django.refreshToken(djangoId);
    const imported = await identity({ DATABASE_URL: h.config.databaseUrl!, LOG_LEVEL: "silent" }, "import-django", "--source-url", django.url);
    expect(imported.status).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await tabs?.close();
    await browser?.close();
    await h?.close();
    await django?.drop();
  });

  it("keeps working: its next call exchanges the Django refresh token once, and authenticated calls succeed", async () => {
    const page = await tabs.tab(0);
    await adoptSessionHeldFresh(page, {
      user: { id: String(djangoId), phone: "09121110031", first_name: "Sara", last_name: "Ahmadi" },
      tokens: { access: held.access, refresh: held.refresh, access_expires_at: "", refresh_expires_at: "" },
    });
    expect(await state(page)).toMatchObject({ authenticated: true });

    const dashboard = await apiRequest(page, "/dashboard/");
    expect(dashboard.status).toBe(200);
    expect(dashboard.body.data.user).toMatchObject({ phone: "+989121110031", first_name: "Sara" });

    // The client now holds this service's tokens, and the Django token is spent.
    const stored = await page.evaluate((key) => JSON.parse(localStorage.getItem(key) ?? "null") as { refresh: string } | null, SESSION_KEY);
    expect(stored?.refresh).not.toBe(held.refresh);
    expect(await accessOf(page)).not.toBe(held.access);
    const [spent] = await h.identity.db.query<{ reason: string }>("SELECT reason FROM legacy_spent_tokens WHERE jti = $1", [held.jti]);
    expect(spent).toEqual({ reason: "exchanged" });

    // Later calls and refreshes go on as for anyone logged in here.
    await page.evaluate(() => window.jwtClient!.refreshToken());
    expect((await apiRequest(page, "/sessions/")).body.data.sessions).toHaveLength(1);
    expect((await state(page)).authenticated).toBe(true);
  });
});
