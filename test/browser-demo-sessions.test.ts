/**
 * The demo page's "Where you're logged in" and "Recent activity" in Chromium: one
 * user in two browser contexts (an iPhone's Safari and Chrome on Windows, by their
 * User-Agents), each logged in by clicking through the page. A sees both sessions,
 * "this device" on its own, ends B's from the list or logs out everywhere else; B's
 * next call fails and B's page shows the logged-out state. In Persian (right to
 * left, the default) and English. Screenshots go to test/artifacts/.
 */
import { mkdir } from "node:fs/promises";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserSuitesRun, clickFor, launchChromium } from "./support/bridge-browser.js";
import { SESSION_KEY } from "./support/bridge-flows.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { freshPhone, type Phone } from "./support/phones.js";
import { realStoresAvailable } from "./support/services.js";

const ARTIFACTS = new URL("./artifacts/", import.meta.url);
const screenshot = (page: Page, name: string) => page.screenshot({ path: new URL(name, ARTIFACTS).pathname, fullPage: true });

const IPHONE_SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const WINDOWS_CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

const OWN_SESSION_BUTTON = "#session-list > li:has(.badge) button";
const OTHER_SESSION_BUTTON = "#session-list > li:not(:has(.badge)) button";

/** The sessions list as shown: device, "this device" mark, the details line, the button. */
const sessionRows = (page: Page) =>
  page.$$eval("#session-list > li", (rows) =>
    rows.map((row) => ({
      device: row.querySelector(".what")!.firstChild!.textContent,
      mark: row.querySelector(".badge")?.textContent ?? null,
      details: row.querySelector(".muted")!.textContent,
      ip: row.querySelector("bdi.ip")?.getAttribute("dir") ?? null,
      button: row.querySelector("button")!.textContent,
    })),
  );

/** The activity list as shown: each event's type and its words. */
const activityRows = (page: Page) =>
  page.$$eval("#activity-list > li", (rows) => rows.map((row) => ({ type: row.getAttribute("data-type"), what: row.querySelector(".what")!.textContent })));

/** Whether the page shows the signed-out state: the sign-in form, none of the rest, no session kept. */
const signedOutState = (page: Page) =>
  page.evaluate((key) => {
    const shown = (id: string) => !document.getElementById(id)!.hidden;
    return { auth: shown("auth"), profile: shown("profile"), sessions: shown("sessions"), activity: shown("activity"), stored: localStorage.getItem(key) };
  }, SESSION_KEY);

describe.runIf(realStoresAvailable() && browserSuitesRun)("demo page: sessions and activity", () => {
  let h: BridgeHarness;
  let browser: Browser;

  beforeAll(async () => {
    // Two devices ask for a login code for one phone within the minute.
    [h, browser] = await Promise.all([startBridgeHarness({ env: { OTP_RESEND_INTERVAL: "0s" } }), launchChromium(), mkdir(ARTIFACTS, { recursive: true })]);
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  /** A fresh page in a browser context of its own with `userAgent`; `errors` collects script errors. */
  async function device(userAgent: string): Promise<{ page: Page; errors: string[]; close(): Promise<void> }> {
    const context = await browser.newContext({ viewport: { width: 900, height: 1100 }, userAgent });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${h.url}/`);
    return { page, errors, close: () => context.close() };
  }

  /** Signs up (or logs in) by clicking through the Persian page; the lists are then on show. */
  async function enter(page: Page, phone: Phone, purpose: "register" | "login"): Promise<void> {
    await page.check(`#purpose-${purpose}`);
    await page.fill("#phone", phone.local);
    await clickFor(page, "#send-otp", "کد تأیید ارسال شد.");
    await page.fill("#code", h.inbox.codeFor(phone.e164, purpose));
    await clickFor(page, "#verify", purpose === "register" ? "ثبت‌نام انجام شد." : "با موفقیت وارد شدید.");
    await page.locator("#sessions").waitFor({ state: "visible" });
  }

  /** The same user on an iPhone (A, signed up first) and on Windows (B). */
  async function twoDevices() {
    const [a, b] = await Promise.all([device(IPHONE_SAFARI), device(WINDOWS_CHROME)]);
    const phone = freshPhone();
    await enter(a.page, phone, "register");
    await enter(b.page, phone, "login");
    // A's lists were loaded before B logged in: any action loads them again.
    await clickFor(a.page, "#reload-profile", "انجام شد.");
    return { a, b, phone, close: () => Promise.all([a.close(), b.close()]) };
  }

  it("shows where you're logged in and the recent activity, in Persian right to left and in English", async () => {
    const { a, b, close } = await twoDevices();
    expect(await a.page.getAttribute("html", "dir")).toBe("rtl");
    expect(await a.page.textContent("#sessions-title")).toBe("کجا وارد شده‌اید");
    expect(await a.page.textContent("#activity-title")).toBe("فعالیت‌های اخیر");
    const fa = await sessionRows(a.page);
    expect(fa).toEqual([
      { device: "Chrome روی Windows", mark: null, details: expect.stringMatching(/^آخرین استفاده: .+ · 127\.0\.0\.1$/), ip: "ltr", button: "پایان نشست" },
      { device: "Safari روی iPhone", mark: "همین دستگاه", details: expect.stringMatching(/^آخرین استفاده: .+ · 127\.0\.0\.1$/), ip: "ltr", button: "پایان نشست" },
    ]);
    expect(await activityRows(a.page)).toEqual([
      { type: "user.logged_in", what: "ورود به حساب" },
      { type: "user.registered", what: "ثبت‌نام" },
    ]);
    expect(await a.page.textContent("#logout-others")).toBe("خروج از همه‌ی دستگاه‌های دیگر");
    await screenshot(a.page, "demo-sessions-fa.png");

    await a.page.click("#lang");
    expect(await a.page.getAttribute("html", "dir")).toBe("ltr");
    expect(await a.page.textContent("#sessions-title")).toBe("Where you're logged in");
    expect(await a.page.textContent("#activity-title")).toBe("Recent activity");
    expect(await sessionRows(a.page)).toEqual([
      { device: "Chrome on Windows", mark: null, details: expect.stringMatching(/^Last used (now|\d+ seconds? ago) · 127\.0\.0\.1$/), ip: "ltr", button: "End session" },
      { device: "Safari on iPhone", mark: "This device", details: expect.stringMatching(/^Last used (now|\d+ seconds? ago) · 127\.0\.0\.1$/), ip: "ltr", button: "End session" },
    ]);
    expect(await activityRows(a.page)).toEqual([
      { type: "user.logged_in", what: "Logged in" },
      { type: "user.registered", what: "Signed up" },
    ]);
    expect(await a.page.textContent("#logout-others")).toBe("Log out everywhere else");
    // B sees the same two sessions, "this device" on its own.
    expect((await sessionRows(b.page)).map((row) => [row.device, row.mark])).toEqual([
      ["Chrome روی Windows", "همین دستگاه"],
      ["Safari روی iPhone", null],
    ]);
    await screenshot(a.page, "demo-sessions-en.png");
    expect([...a.errors, ...b.errors]).toEqual([]);
    await close();
  });

  it("ends the other device's session from the list: that device is logged out at its next call", async () => {
    const { a, b, close } = await twoDevices();
    await a.page.click("#lang");
    await clickFor(a.page, OTHER_SESSION_BUTTON, "The session was ended.");
    expect((await sessionRows(a.page)).map((row) => [row.device, row.mark])).toEqual([["Safari on iPhone", "This device"]]);
    expect((await activityRows(a.page))[0]).toEqual({ type: "session.revoked", what: "A session ended from the list of devices" });
    await screenshot(a.page, "demo-sessions-en-ended-other.png");

    // B does not know yet; its next call is refused and it shows the signed-out state.
    await clickFor(b.page, "#reload-profile", "این نشست باطل شده است. دوباره وارد شوید.");
    expect(await signedOutState(b.page)).toEqual({ auth: true, profile: false, sessions: false, activity: false, stored: null });
    expect(await b.page.textContent("#status")).toBe("وارد نشده‌اید.");
    await screenshot(b.page, "demo-sessions-fa-ended-here.png");
    expect([...a.errors, ...b.errors]).toEqual([]);
    await close();
  });

  it("logs out everywhere else: the other device is logged out, this one stays", async () => {
    const { a, b, phone, close } = await twoDevices();
    // A third session, over HTTP: "Node.js", most recently used.
    await h.logIn(phone.local);
    await clickFor(a.page, "#reload-profile", "انجام شد.");
    expect((await sessionRows(a.page)).map((row) => row.device)).toEqual(["Node.js", "Chrome روی Windows", "Safari روی iPhone"]);

    await clickFor(a.page, "#logout-others", "از همه‌ی دستگاه‌های دیگر خارج شدید.");
    expect((await sessionRows(a.page)).map((row) => [row.device, row.mark])).toEqual([["Safari روی iPhone", "همین دستگاه"]]);
    expect((await activityRows(a.page))[0]).toEqual({ type: "session.logged_out_others", what: "خروج از همه‌ی دستگاه‌های دیگر (۲ نشست)" });
    expect(await a.page.isVisible("#logout-others")).toBe(false);

    await clickFor(b.page, "#reload-profile", "این نشست باطل شده است. دوباره وارد شوید.");
    expect(await signedOutState(b.page)).toEqual({ auth: true, profile: false, sessions: false, activity: false, stored: null });
    await clickFor(a.page, "#reload-profile", "انجام شد.");
    expect(await a.page.isVisible("#profile")).toBe(true);
    expect([...a.errors, ...b.errors]).toEqual([]);
    await close();
  });

  it("logs out when this device's own session is ended from the list", async () => {
    const { a, b, close } = await twoDevices();
    await clickFor(a.page, OWN_SESSION_BUTTON, "از حساب خارج شدید.");
    expect(await signedOutState(a.page)).toEqual({ auth: true, profile: false, sessions: false, activity: false, stored: null });
    // B goes on, and sees A's session gone.
    await clickFor(b.page, "#reload-profile", "انجام شد.");
    expect((await sessionRows(b.page)).map((row) => row.device)).toEqual(["Chrome روی Windows"]);
    expect([...a.errors, ...b.errors]).toEqual([]);
    await close();
  });

  it("says not found for a session that ended meanwhile, in the page's language, and lists what is left", async () => {
    const { a, b, close } = await twoDevices();
    // B logs out by itself; A's list still shows it.
    await clickFor(b.page, "#logout", "از حساب خارج شدید.");
    await clickFor(a.page, OTHER_SESSION_BUTTON, "یافت نشد.");
    expect(await a.page.getAttribute("#message", "class")).toContain("error");
    expect(await a.page.locator(OTHER_SESSION_BUTTON).count()).toBe(0);
    expect((await sessionRows(a.page)).map((row) => row.mark)).toEqual(["همین دستگاه"]);
    await a.page.click("#lang");
    expect(await a.page.textContent("#message")).toBe("Not found.");
    expect([...a.errors, ...b.errors]).toEqual([]);
    await close();
  });
});
