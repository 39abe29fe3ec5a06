/**
 * Reading the code from the SMS (WebOTP) in Chromium: `jwtClient.supportsWebOtp`,
 * `jwtClient.readOtpFromSms({ signal })`, and the demo page filling its code field
 * with it. Headless Chromium receives no SMS, so the real path cannot run here:
 * where the browser "has" WebOTP, `window.OTPCredential` and
 * `navigator.credentials.get` are stand-ins set up before the page's scripts, which
 * record what they are asked and give a code when the test says so. Where it has
 * none (`OTPCredential` removed), the client refuses without asking the browser and
 * the demo page works as before.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserSuitesRun, clickFor, launchChromium, openTabs, type Tabs } from "./support/bridge-browser.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { freshPhone } from "./support/phones.js";
import { realStoresAvailable } from "./support/services.js";

/** What the stand-in for `navigator.credentials.get` saw, and its hand on the answer. */
interface CredentialsStandin {
  calls: { otp: unknown; signal: boolean }[];
  aborted: number;
  /** Answers the pending call with an OTP credential holding `code`. */
  deliver(code: string): void;
}

declare global {
  interface Window {
    credentialsStandin?: CredentialsStandin;
  }
}

/** A browser with WebOTP, as far as the page can tell. */
function withWebOtp(): void {
  const standin: CredentialsStandin = { calls: [], aborted: 0, deliver: () => undefined };
  Object.assign(window, { OTPCredential: class OTPCredential {} });
  navigator.credentials.get = (options?: CredentialRequestOptions & { otp?: unknown }) => {
    const signal = options?.signal;
    standin.calls.push({ otp: options?.otp, signal: signal instanceof AbortSignal });
    return new Promise((resolve, reject) => {
      standin.deliver = (code) => resolve({ id: "", type: "otp", code } as Credential);
      signal?.addEventListener("abort", () => {
        standin.aborted++;
        reject(signal.reason);
      });
    });
  };
  window.credentialsStandin = standin;
}

/** A browser without WebOTP; any call to `navigator.credentials.get` is still counted. */
function withoutWebOtp(): void {
  const standin: CredentialsStandin = { calls: [], aborted: 0, deliver: () => undefined };
  Reflect.deleteProperty(window, "OTPCredential");
  const get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = (options?: CredentialRequestOptions) => {
    standin.calls.push({ otp: undefined, signal: options?.signal instanceof AbortSignal });
    return get(options);
  };
  window.credentialsStandin = standin;
}

const standinCalls = (page: Page) => page.evaluate(() => window.credentialsStandin!.calls);
const standinAborted = (page: Page) => page.evaluate(() => window.credentialsStandin!.aborted);
const deliver = (page: Page, code: string) => page.evaluate((c) => window.credentialsStandin!.deliver(c), code);
/** Until the page has asked the stand-in for an SMS code. */
const askedForCode = (page: Page) => page.waitForFunction(() => window.credentialsStandin!.calls.length > 0);

describe.runIf(realStoresAvailable() && browserSuitesRun)("reading the code from the SMS (WebOTP)", () => {
  let h: BridgeHarness;
  let browser: Browser;

  beforeAll(async () => {
    [h, browser] = await Promise.all([startBridgeHarness(), launchChromium()]);
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  /** The demo page in English, signed out, its errors collected. */
  async function demoPage(context: BrowserContext): Promise<{ page: Page; errors: string[] }> {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()));
    // Storage is the context's: no session or language left by an earlier test.
    await page.goto(`${h.url}/healthz`);
    await page.evaluate(() => {
      localStorage.clear();
      localStorage.setItem("demo.lang", "en");
    });
    await page.goto(`${h.url}/`);
    return { page, errors };
  }

  /** Asks the demo page for a sign-up code for a new number; resolves the number (E.164). */
  async function sendSignUpCode(page: Page): Promise<string> {
    const phone = freshPhone();
    await page.check("#purpose-register");
    await page.fill("#phone", phone.local);
    await clickFor(page, "#send-otp", "The verification code was sent.");
    return phone.e164;
  }

  describe("in a browser without WebOTP", () => {
    let tabs: Tabs;
    beforeAll(async () => {
      tabs = await openTabs(browser, h.url);
      await tabs.context.addInitScript(withoutWebOtp);
    });
    afterAll(async () => {
      await tabs?.close();
    });

    it("says it has none, and readOtpFromSms rejects with a NotSupportedError without asking the browser", async () => {
      const page = await tabs.tab(0);
      expect(await page.evaluate(() => window.jwtClient!.supportsWebOtp)).toBe(false);
      const refusal = await page.evaluate(() => window.jwtClient!.readOtpFromSms().then(() => "resolved", (e: DOMException) => `${e.name}: ${e.message}`));
      expect(refusal).toBe("NotSupportedError: This browser cannot read one-time codes from SMS (no WebOTP API)");
      expect(await standinCalls(page)).toEqual([]);
    });

    it("leaves the demo page as it was: the code is typed, and signs up", async () => {
      const { page, errors } = await demoPage(tabs.context);
      const phone = await sendSignUpCode(page);
      expect(await page.inputValue("#code")).toBe("");
      await page.fill("#code", h.inbox.codeFor(phone, "register"));
      await clickFor(page, "#verify", "Registration complete.");
      await page.locator("#profile").waitFor({ state: "visible" });
      expect(await standinCalls(page)).toEqual([]);
      expect(errors).toEqual([]);
      await page.close();
    });
  });

  describe("in a browser with WebOTP (a stand-in: headless Chromium gets no SMS)", () => {
    let tabs: Tabs;
    beforeAll(async () => {
      tabs = await openTabs(browser, h.url);
      await tabs.context.addInitScript(withWebOtp);
    });
    afterAll(async () => {
      await tabs?.close();
    });

    it("says it has it, asks for an SMS code with the signal given, resolves the code, and stops when the signal aborts", async () => {
      const page = await tabs.tab(0);
      expect(await page.evaluate(() => window.jwtClient!.supportsWebOtp)).toBe(true);

      await page.evaluate(() => {
        const pending = window.jwtClient!.readOtpFromSms({ signal: new AbortController().signal });
        Object.assign(window, { pendingCode: pending });
      });
      await deliver(page, "123456");
      expect(await page.evaluate(() => (window as unknown as { pendingCode: Promise<string> }).pendingCode)).toBe("123456");
      expect(await standinCalls(page)).toEqual([{ otp: { transport: ["sms"] }, signal: true }]);

      const stopped = await page.evaluate(() => {
        const controller = new AbortController();
        const pending = window.jwtClient!.readOtpFromSms({ signal: controller.signal });
        controller.abort();
        return pending.then(() => "resolved", (e: DOMException) => e.name);
      });
      expect(stopped).toBe("AbortError");
      expect(await standinAborted(page)).toBe(1);
    });

    it("fills the demo page's code field from the SMS after send code, and the code signs up", async () => {
      const { page, errors } = await demoPage(tabs.context);
      const phone = await sendSignUpCode(page);
      await askedForCode(page);
      expect(await standinCalls(page)).toEqual([{ otp: { transport: ["sms"] }, signal: true }]);
      expect(await page.inputValue("#code")).toBe("");

      const code = h.inbox.codeFor(phone, "register");
      await deliver(page, code);
      await page.waitForFunction(() => document.querySelector<HTMLInputElement>("#code")!.value !== "");
      expect(await page.inputValue("#code")).toBe(code);
      await clickFor(page, "#verify", "Registration complete.");
      expect(await standinAborted(page)).toBe(0);
      expect(errors).toEqual([]);
      await page.close();
    });

    it("stops waiting for the SMS when the person types the code, and keeps what they typed", async () => {
      const { page, errors } = await demoPage(tabs.context);
      await sendSignUpCode(page);
      await askedForCode(page);

      await page.locator("#code").pressSequentially("98");
      expect(await standinAborted(page)).toBe(1);
      await deliver(page, "123456");
      await page.locator("#code").pressSequentially("76");
      expect(await page.inputValue("#code")).toBe("9876");
      expect(errors).toEqual([]);
      await page.close();
    });
  });
});
