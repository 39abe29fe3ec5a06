/**
 * The demo page's details, in Chromium: the code's length checked before sending,
 * how long a 429 says to wait, messages that follow a language switch, bidi text in
 * the banner and the profile, and the form after a logout. Each test checks the DOM
 * and computed styles and leaves a screenshot in test/artifacts/.
 *
 * Two codes per phone an hour (OTP_MAX_PER_PHONE_PER_HOUR=2) so that the hourly cap
 * is reachable; the resend interval is the default minute.
 */
import { mkdir } from "node:fs/promises";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserSuitesRun, clickFor, demoMessage, launchChromium } from "./support/bridge-browser.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { realStoresAvailable } from "./support/services.js";
import { freshPhone } from "./support/phones.js";

const ARTIFACTS = new URL("./artifacts/", import.meta.url);
const screenshot = (page: Page, name: string) => page.screenshot({ path: new URL(name, ARTIFACTS).pathname, fullPage: true });

const PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹";
const toPersianDigits = (text: string) => text.replace(/\d/g, (d) => PERSIAN_DIGITS[Number(d)]!);

describe.runIf(realStoresAvailable() && browserSuitesRun)("demo page: messages and layout", () => {
  let h: BridgeHarness;
  let browser: Browser;

  beforeAll(async () => {
    [h, browser] = await Promise.all([
      startBridgeHarness({ env: { OTP_MAX_PER_PHONE_PER_HOUR: "2" } }),
      launchChromium(),
      mkdir(ARTIFACTS, { recursive: true }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  /** A fresh Persian page; `errors` collects CSP violations and script errors. */
  async function openPage(): Promise<{ page: Page; errors: string[]; close(): Promise<void> }> {
    const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${h.url}/`);
    expect(await page.getAttribute("html", "lang")).toBe("fa");
    return { page, errors, close: () => context.close() };
  }

  const message = demoMessage;


  async function sendCode(page: Page, phone: string, purpose: "register" | "login", expected: string | RegExp): Promise<void> {
    await page.check(`#purpose-${purpose}`);
    await page.fill("#phone", phone);
    await clickFor(page, "#send-otp", expected);
  }

  it("says how many digits the code needs, before sending it, in the page's language", async () => {
    const { page, errors, close } = await openPage();
    const verifications: string[] = [];
    page.on("request", (r) => /\/api\/(register|login)\/?$/.test(new URL(r.url()).pathname) && verifications.push(r.url()));
    const phone = freshPhone();
    await page.check("#purpose-register");
    await page.fill("#first-name", "سارا");
    await sendCode(page, phone.local, "register", "کد تأیید ارسال شد.");

    await page.fill("#code", "12345");
    await clickFor(page, "#verify", "کد تأیید باید ۶ رقم باشد.");
    expect(await message(page).getAttribute("class")).toContain("error");
    await page.click("#lang");
    expect(await message(page).textContent()).toBe("The verification code must have 6 digits.");
    await page.fill("#code", "12a456");
    await clickFor(page, "#verify", "The verification code must have 6 digits.");
    await screenshot(page, "demo-details-code-digits-en.png");
    expect(verifications).toEqual([]);

    // The right code typed with Persian digits (a Persian keyboard's) is the code.
    await page.click("#lang");
    await page.fill("#code", toPersianDigits(h.inbox.codeFor(phone.e164, "register")));
    await clickFor(page, "#verify", "ثبت‌نام انجام شد.");
    expect(verifications).toHaveLength(1);
    expect(errors).toEqual([]);
    await close();
  });

  it("says how long a 429 asks to wait, in seconds or minutes, and again in the language switched to", async () => {
    const { page, errors, close } = await openPage();
    const phone = freshPhone();
    await sendCode(page, phone.local, "register", "کد تأیید ارسال شد.");

    // Again within the resend interval (a minute): the wait is in seconds.
    await clickFor(page, "#send-otp", /^تعداد درخواست‌ها زیاد است\. کمی بعد دوباره تلاش کنید\. [۰-۹]+ ثانیه دیگر می‌توانید دوباره تلاش کنید\.$/);
    await page.click("#lang");
    expect(await message(page).textContent()).toMatch(/^Too many requests\. Please try again later\. You can try again in \d+ seconds\.$/);
    await screenshot(page, "demo-details-wait-seconds-en.png");

    // Registered, logged out, a login code (the second of two an hour), and one more:
    // past the hourly cap the wait is in minutes.
    await page.fill("#code", h.inbox.codeFor(phone.e164, "register"));
    await clickFor(page, "#verify", "Registration complete.");
    await clickFor(page, "#logout", "Logged out.");
    await sendCode(page, phone.local, "login", "The verification code was sent.");
    await clickFor(page, "#send-otp", /^Too many requests\. Please try again later\. You can try again in (59|60) minutes\.$/);
    await page.click("#lang");
    expect(await message(page).textContent()).toMatch(/^تعداد درخواست‌ها زیاد است\. کمی بعد دوباره تلاش کنید\. (۵۹|۶۰) دقیقه دیگر می‌توانید دوباره تلاش کنید\.$/);
    await screenshot(page, "demo-details-wait-minutes-fa.png");
    expect(errors).toEqual([]);
    await close();
  });

  it("re-renders a server's refusal in the language switched to", async () => {
    const { page, errors, close } = await openPage();
    const phone = freshPhone();
    await sendCode(page, phone.local, "register", "کد تأیید ارسال شد.");
    await page.fill("#code", h.inbox.codeFor(phone.e164, "register") === "000000" ? "111111" : "000000");
    await clickFor(page, "#verify", "کد تأیید نادرست است.");
    await page.click("#lang");
    expect(await message(page).textContent()).toBe("The verification code is incorrect.");
    await page.click("#lang");
    expect(await message(page).textContent()).toBe("کد تأیید نادرست است.");
    expect(errors).toEqual([]);
    await close();
  });

  /** Signs up through the page with a Persian name; the profile is on show. */
  async function signUp(page: Page): Promise<{ local: string; e164: string }> {
    const phone = freshPhone();
    await page.check("#purpose-register");
    await page.fill("#first-name", "سارا");
    await page.fill("#last-name", "احمدی");
    await sendCode(page, phone.local, "register", "کد تأیید ارسال شد.");
    await page.fill("#code", h.inbox.codeFor(phone.e164, "register"));
    await clickFor(page, "#verify", "ثبت‌نام انجام شد.");
    await page.locator("#profile").waitFor({ state: "visible" });
    return phone;
  }

  it("right-aligns the phone in the Persian profile, keeping the number itself left to right", async () => {
    const { page, errors, close } = await openPage();
    const phone = await signUp(page);
    const cell = await page.evaluate(() => {
      const dd = document.getElementById("user-phone")!;
      const range = document.createRange();
      range.selectNodeContents(dd);
      const text = range.getBoundingClientRect();
      const box = dd.getBoundingClientRect();
      const inner = dd.querySelector("bdi");
      return {
        text: dd.textContent,
        cellDirection: getComputedStyle(dd).direction,
        numberDirection: inner ? getComputedStyle(inner).direction : null,
        gapRight: box.right - text.right,
        gapLeft: text.left - box.left,
      };
    });
    expect(cell).toMatchObject({ text: phone.e164, cellDirection: "rtl", numberDirection: "ltr" });
    expect(cell.gapRight).toBeLessThan(1);
    expect(cell.gapLeft).toBeGreaterThan(50);
    await screenshot(page, "demo-details-fa-profile.png");
    expect(errors).toEqual([]);
    await close();
  });

  it("gives Persian text its own direction in the English page: the banner and the name", async () => {
    const { page, errors, close } = await openPage();
    await signUp(page);
    await page.click("#lang");
    expect(await page.evaluate(() => getComputedStyle(document.querySelector("#user-name bdi")!).direction)).toBe("rtl");
    // A Persian sentence in the banner: its full stop ends it on the left.
    expect(await message(page).getAttribute("dir")).toBe("auto");
    const banner = await page.evaluate(() => {
      const element = document.getElementById("message")!;
      element.textContent = "کد تأیید ارسال شد.";
      element.hidden = false;
      const text = element.firstChild!;
      const rectOf = (start: number) => {
        const range = document.createRange();
        range.setStart(text, start);
        range.setEnd(text, start + 1);
        return range.getBoundingClientRect();
      };
      const last = text.textContent!.length - 1;
      return { direction: getComputedStyle(element).direction, stopLeftOfFirstLetter: rectOf(last).right <= rectOf(0).left };
    });
    expect(banner).toEqual({ direction: "rtl", stopLeftOfFirstLetter: true });
    await screenshot(page, "demo-details-en-profile.png");
    expect(errors).toEqual([]);
    await close();
  });

  it("puts the sign-in form back as a new visitor finds it after a logout", async () => {
    const { page, errors, close } = await openPage();
    await signUp(page);
    await page.click("#lang");
    await clickFor(page, "#logout", "Logged out.");
    await page.locator("#auth").waitFor({ state: "visible" });
    expect(
      await page.evaluate(() => ({
        login: (document.getElementById("purpose-login") as HTMLInputElement).checked,
        namesHidden: document.getElementById("names")!.hidden,
        phone: (document.getElementById("phone") as HTMLInputElement).value,
        firstName: (document.getElementById("first-name") as HTMLInputElement).value,
        lastName: (document.getElementById("last-name") as HTMLInputElement).value,
        verifyHidden: document.getElementById("verify-form")!.hidden,
      })),
    ).toEqual({ login: true, namesHidden: true, phone: "", firstName: "", lastName: "", verifyHidden: true });
    await screenshot(page, "demo-details-en-logged-out.png");
    expect(errors).toEqual([]);
    await close();
  });
});
