/**
 * Debian's Chromium driven by playwright-core. Where it is missing the browser
 * suites do not run, except under CI=true, where they run and fail: CI must
 * install it (`apt-get install -y chromium`).
 */
import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { expect } from "vitest";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Whether the browser suites run here. */
export const browserSuitesRun = existsSync(CHROMIUM) || process.env.CI === "true";

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
}

/** Where a page loads nothing but the client (served by the test, on the bridge's origin). */
export const CLIENT_PAGE = "/__client-test";

const CLIENT_PAGE_HTML = `<!doctype html><html><head><meta charset="utf-8">
<script src="/static/js/jwt-client.js"></script>
<script src="/__client-test.js"></script></head><body></body></html>`;

// Records every onAuthChange in the page, for tests to read.
const CLIENT_PAGE_JS = `window.authChanges = []; window.jwtClient.onAuthChange((c) => window.authChanges.push(c.reason + ":" + c.authenticated));`;

/**
 * Browser tabs on `baseUrl`'s origin, each a page with nothing but `window.jwtClient`
 * loaded. Opening a page costs Chromium about a second on two cores, so tabs are
 * kept from test to test and `reset()` gives them a fresh start instead: every tab
 * leaves the client page, storage is cleared, every tab comes back.
 */
export interface Tabs {
  readonly context: BrowserContext;
  /** Tab `index` (0, 1, …), opened on first use. */
  tab(index: number): Promise<Page>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function openTabs(browser: Browser, baseUrl: string): Promise<Tabs> {
  const context = await browser.newContext();
  await context.route(`${baseUrl}${CLIENT_PAGE}`, (route) => route.fulfill({ contentType: "text/html", body: CLIENT_PAGE_HTML }));
  await context.route(`${baseUrl}${CLIENT_PAGE}.js`, (route) => route.fulfill({ contentType: "text/javascript", body: CLIENT_PAGE_JS }));
  const pages: Page[] = [];
  const load = async (page: Page) => {
    await page.goto(`${baseUrl}${CLIENT_PAGE}`);
    await page.waitForFunction(() => window.jwtClient !== undefined);
  };
  return {
    context,
    async tab(index) {
      while (pages.length <= index) {
        const page = await context.newPage();
        page.on("pageerror", (error) => console.error("page error:", error));
        await load(page);
        pages.push(page);
      }
      return pages[index]!;
    },
    async reset() {
      // Away from the client first, so no client writes the storage again after the clear.
      await Promise.all(pages.map((page) => page.goto(`${baseUrl}/healthz`)));
      await pages[0]?.evaluate(() => localStorage.clear());
      await Promise.all(pages.map(load));
    },
    close: () => context.close(),
  };
}

/** Reloads a tab and waits for the client. */
export async function reload(page: Page): Promise<void> {
  await page.reload();
  await page.waitForFunction(() => window.jwtClient !== undefined);
}

/** The demo page's message banner. */
export const demoMessage = (page: Page) => page.locator("#message");

/** Clicks `selector` on the demo page and waits for the message that follows it. */
export async function clickFor(page: Page, selector: string, expected: string | RegExp): Promise<void> {
  await page.evaluate(() => document.getElementById("message")!.setAttribute("hidden", ""));
  await page.click(selector);
  await demoMessage(page).waitFor({ state: "visible" });
  expect(await demoMessage(page).textContent()).toMatch(expected);
}
