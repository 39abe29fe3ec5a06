/**
 * What a web page does with the browser client, written once and run against the
 * in-process bridge and against the split deployment (bridge → gRPC upstream).
 */
import type { Page } from "playwright-core";
import { expect } from "vitest";
import type { SmsInbox } from "./sms-inbox.js";
import { reload, type Tabs } from "./bridge-browser.js";
import { eventually } from "./eventually.js";
import { freshPhone } from "./phones.js";


export const SESSION_KEY = "jwt-client.session";

export interface FlowTarget {
  url: string;
  inbox: SmsInbox;
}

/** A failure as the page sees it: the client's Error, with its status and code. */
export interface PageError {
  name: string;
  message: string;
  status: number;
  code: string;
}

declare global {
  interface Window {
    authChanges: string[];
  }
}

export function sendOtp(page: Page, phone: string, purpose: "register" | "login") {
  return page.evaluate(([p, purpose]) => window.jwtClient!.sendOTP(p, purpose), [phone, purpose] as const);
}

export async function registerIn(page: Page, target: FlowTarget, phone = freshPhone()): Promise<{ phone: string; e164: string }> {
  await sendOtp(page, phone.local, "register");
  const code = target.inbox.codeFor(phone.e164, "register");
  await page.evaluate(([p, c]) => window.jwtClient!.register(p, c, "Sara", "Ahmadi"), [phone.local, code] as const);
  return { phone: phone.local, e164: phone.e164 };
}

export async function loginIn(page: Page, target: FlowTarget, phone: string, e164: string): Promise<void> {
  await sendOtp(page, phone, "login");
  await page.evaluate(([p, c]) => window.jwtClient!.login(p, c), [phone, target.inbox.codeFor(e164, "login")] as const);
}

/** `apiRequest(path)` in the page: status and parsed body. */
export function apiRequest(page: Page, path: string, init?: { method?: string; body?: Record<string, unknown> }) {
  return page.evaluate(
    async ([p, i]) => {
      const response = await window.jwtClient!.apiRequest(p, i ?? undefined);
      return { status: response.status, body: (await response.json()) as { success: boolean; message: string; data: Record<string, any> } };
    },
    [path, init ?? null] as const,
  );
}

/** Runs a client call in the page and returns its failure as the page saw it. */
export function failureOf(page: Page, call: string, args: unknown[]): Promise<PageError | null> {
  return page.evaluate(
    async ([name, a]) => {
      try {
        await (window.jwtClient as unknown as Record<string, (...x: unknown[]) => Promise<unknown>>)[name]!(...a);
        return null;
      } catch (error) {
        const e = error as Error & { status: number; code: string };
        return { name: e.name, message: e.message, status: e.status, code: e.code, isError: e instanceof Error };
      }
    },
    [call, args] as const,
  );
}

export const state = (page: Page) =>
  page.evaluate((key) => ({
    authenticated: window.jwtClient!.isAuthenticated(),
    user: window.jwtClient!.getUserData(),
    stored: localStorage.getItem(key),
    changes: window.authChanges,
  }), SESSION_KEY);

/** The access token the client holds now. */
export const accessOf = (page: Page) => page.evaluate((key) => (JSON.parse(localStorage.getItem(key) ?? "null") as { access: string } | null)?.access ?? null, SESSION_KEY);

/** Signs a user up over HTTP (not through a page): the tokens, the user and the phone. */
export async function registerOverHttp(target: FlowTarget): Promise<{ data: { user: Record<string, unknown>; tokens: Record<string, string> }; phone: string; e164: string }> {
  const phone = freshPhone();
  const post = (path: string, body: unknown) =>
    fetch(`${target.url}/api/${path}/`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<{ data: any }>);
  await post("send-otp", { phone: phone.local, purpose: "register" });
  const registered = await post("register", { phone: phone.local, code: target.inbox.codeFor(phone.e164, "register") });
  return { data: registered.data, phone: phone.local, e164: phone.e164 };
}

/**
 * Puts a session in the page's storage the way the client keeps it, claiming the
 * access token lives another hour: no client timer ever wants to refresh it, and
 * the server alone decides when it has expired. Other tabs follow the storage;
 * this one reloads to read it.
 */
export async function adoptSessionHeldFresh(page: Page, data: { user: Record<string, unknown>; tokens: Record<string, string> }): Promise<void> {
  await page.evaluate(
    ([key, d]) => {
      const session = {
        access: d.tokens.access,
        refresh: d.tokens.refresh,
        accessExpiresAt: d.tokens.access_expires_at,
        refreshExpiresAt: d.tokens.refresh_expires_at,
        localExpiresAt: Date.now() + 3_600_000,
        lifetimeMs: 3_600_000,
        user: d.user,
      };
      localStorage.setItem(key, JSON.stringify(session));
    },
    [SESSION_KEY, data] as const,
  );
  await reload(page);
}

/** Register, read the profile, change it, log out, log in again: DESIGN's client API end to end. */
export async function registerLoginRequestLogout(tabs: Tabs, target: FlowTarget): Promise<void> {
  const page = await tabs.tab(0);
  const sent = await sendOtp(page, freshPhone().local, "register");
  expect(sent).toMatchObject({ success: true, data: { expires_in: expect.any(Number), resend_after: expect.any(Number) } });

  const { phone, e164 } = await registerIn(page, target);
  expect(await state(page)).toMatchObject({ authenticated: true, user: { phone: e164, first_name: "Sara" } });

  const dashboard = await apiRequest(page, "/dashboard/");
  expect(dashboard.status).toBe(200);
  expect(dashboard.body.data.user.phone).toBe(e164);

  const patched = await apiRequest(page, "/profile/", { method: "PATCH", body: { first_name: "Mina" } });
  expect(patched.status).toBe(200);
  expect((await state(page)).user?.first_name).toBe("Mina");

  const wrong = await failureOf(page, "login", [phone, "000000"]);
  expect(wrong).toMatchObject({ isError: true, status: 400 });
  expect(["otp_invalid", "otp_expired"]).toContain(wrong?.code);
  expect(wrong?.message).toMatch(/[\u0600-\u06FF]|code/);

  const out = await page.evaluate(() => window.jwtClient!.logout());
  expect(out.success).toBe(true);
  expect(await state(page)).toMatchObject({ authenticated: false, user: null, stored: null });
  expect((await apiRequest(page, "/dashboard/")).status).toBe(401);

  await loginIn(page, target, phone, e164);
  expect((await state(page)).authenticated).toBe(true);
  expect((await apiRequest(page, "/dashboard/")).status).toBe(200);
  // (A background refresh may come in between, with a short ACCESS_TOKEN_LIFETIME.)
  expect((await state(page)).changes.filter((c) => !c.startsWith("refresh"))).toEqual(["login:true", "user:true", "logout:false", "login:true"]);
}

/** Logging out in one tab logs out the other; a login in one is seen in the other. */
export async function logoutFollowsAcrossTabs(tabs: Tabs, target: FlowTarget): Promise<void> {
  const first = await tabs.tab(0);
  const second = await tabs.tab(1);
  await registerIn(first, target);
  await eventually(() => state(second), (s) => s.authenticated);
  expect((await apiRequest(second, "/dashboard/")).status).toBe(200);

  await first.evaluate(() => window.jwtClient!.logout());
  const after = await eventually(() => state(second), (s) => !s.authenticated);
  expect(after.changes.filter((c) => !c.startsWith("refresh"))).toEqual(["login:true", "logout:false"]);
}

/**
 * Five requests at once with an access token the server no longer takes (the
 * client still thinks it good): one refresh, then each request retried once.
 * `expire` makes the server see the token as expired.
 */
export async function fiveParallelRequestsOneRefresh(tabs: Tabs, target: FlowTarget, expire: () => Promise<void>, refreshCount: () => number): Promise<void> {
  const page = await tabs.tab(0);
  const { data } = await registerOverHttp(target);
  await adoptSessionHeldFresh(page, data);
  expect((await apiRequest(page, "/dashboard/")).status).toBe(200);
  const before = await accessOf(page);
  await expire();

  const refreshesBefore = refreshCount();
  const statuses = await page.evaluate(() => Promise.all([1, 2, 3, 4, 5].map(() => window.jwtClient!.apiRequest("/dashboard/").then((r) => r.status))));
  expect(statuses).toEqual([200, 200, 200, 200, 200]);
  expect(refreshCount() - refreshesBefore).toBe(1);
  expect(await accessOf(page)).not.toBe(before);
}
