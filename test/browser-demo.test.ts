/**
 * The demo page at `/`, used by clicking through it in Chromium: sign up with a
 * code, see and edit the profile, refresh, log out, log in, log out everywhere,
 * in Persian (right to left) and English. Screenshots go to test/artifacts/.
 */
import { mkdir } from "node:fs/promises";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserSuitesRun, clickFor, demoMessage, launchChromium } from "./support/bridge-browser.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { realStoresAvailable } from "./support/services.js";
import { freshPhone } from "./support/phones.js";

const ARTIFACTS = new URL("./artifacts/", import.meta.url);

describe.runIf(realStoresAvailable() && browserSuitesRun)("demo page", () => {
  let h: BridgeHarness;
  let browser: Browser;

  beforeAll(async () => {
    [h, browser] = await Promise.all([startBridgeHarness(), launchChromium(), mkdir(ARTIFACTS, { recursive: true })]);
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  const message = demoMessage;


  it("is clicked through: sign up, profile, refresh, logout, login, logout everywhere", async () => {
    const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
    const page = await context.newPage();
    const violations: string[] = [];
    // CSP violations and script errors (the browser also logs each 4xx answer: those are expected).
    page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && violations.push(m.text()));
    page.on("pageerror", (e) => violations.push(e.message));
    await page.goto(`${h.url}/`);

    // Persian first, right to left.
    expect(await page.getAttribute("html", "dir")).toBe("rtl");
    expect(await page.textContent("#status")).toBe("وارد نشده‌اید.");

    const phone = freshPhone();
    await page.check("#purpose-register");
    await page.fill("#phone", phone.local);
    await page.fill("#first-name", "سارا");
    await page.fill("#last-name", "احمدی");
    await clickFor(page, "#send-otp", "کد تأیید ارسال شد.");
    await page.fill("#code", h.inbox.codeFor(phone.e164, "register"));
    await clickFor(page, "#verify", "ثبت‌نام انجام شد.");
    await page.locator("#profile").waitFor({ state: "visible" });
    expect(await page.textContent("#user-phone")).toBe(phone.e164);
    expect(await page.textContent("#user-name")).toBe("سارا احمدی");
    await page.screenshot({ path: new URL("demo-fa-profile.png", ARTIFACTS).pathname, fullPage: true });

    // English, left to right; the server's messages follow.
    await page.click("#lang");
    expect(await page.getAttribute("html", "dir")).toBe("ltr");
    await page.fill("#profile-first-name", "Sara");
    await clickFor(page, "#save-profile", "Profile updated.");
    expect(await page.textContent("#user-name")).toBe("Sara احمدی");
    await clickFor(page, "#refresh", "Token refreshed.");
    await page.screenshot({ path: new URL("demo-en-profile.png", ARTIFACTS).pathname, fullPage: true });

    await clickFor(page, "#logout", "Logged out.");
    await page.locator("#auth").waitFor({ state: "visible" });

    await page.check("#purpose-login");
    await page.fill("#phone", phone.local);
    await clickFor(page, "#send-otp", "The verification code was sent.");
    await page.fill("#code", "000000");
    await clickFor(page, "#verify", /verification code is incorrect|expired/);
    await page.fill("#code", h.inbox.codeFor(phone.e164, "login"));
    await clickFor(page, "#verify", "Logged in.");
    await page.locator("#profile").waitFor({ state: "visible" });

    await clickFor(page, "#logout-all", "Logged out of every device.");
    await page.locator("#auth").waitFor({ state: "visible" });
    await page.screenshot({ path: new URL("demo-en-logged-out.png", ARTIFACTS).pathname, fullPage: true });

    expect(violations).toEqual([]);
    await context.close();
  });
});
