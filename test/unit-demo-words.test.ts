/**
 * The demo page's words for sessions and activity: a User-Agent as the device it
 * names, an audit event as what happened, and how long ago, in Persian and English.
 */
import { describe, expect, it } from "vitest";
import { activityWords } from "../bridge/demo/activity.js";
import { deviceWords } from "../bridge/demo/device.js";
import { timeAgo } from "../bridge/demo/time-words.js";
import { AUDIT_EVENT_TYPES } from "../src/core/ports/audit.js";

describe("deviceWords", () => {
  it.each([
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Chrome on Windows"],
    ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "Safari on iPhone"],
    ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1", "Chrome on iPhone"],
    ["Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "Safari on iPad"],
    ["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", "Safari on Mac"],
    ["Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox on Mac"],
    ["Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox on Linux"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80", "Edge on Windows"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0", "Opera on Windows"],
    ["Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", "Chrome on Android"],
    ["Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"],
    ["Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Chrome on ChromeOS"],
    ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.29 Safari/537.36", "Chrome on Linux"],
    ["Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko", "Internet Explorer on Windows"],
    ["Mozilla/5.0 (Windows NT 10.0)", "Windows"],
    ["grpcurl/v1.9.1 grpc-go/1.61.0", "grpcurl"],
    ["curl/8.5.0", "curl"],
    ["Wget/1.21.4", "Wget"],
    ["PostmanRuntime/7.37.3", "Postman"],
    ["node", "Node.js"],
    ["grpc-node-js/1.14.7", "gRPC program"],
    ["okhttp/4.12.0", "okhttp"],
    ["python-requests/2.31.0", "python-requests"],
  ])("names %s as %s", (ua, words) => {
    expect(deviceWords(ua, "en")).toBe(words);
  });

  it.each([[""], ["   "], ["Mozilla/5.0"], ["<script>alert(1)</script>"], ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"]])(
    "falls back to an unknown device for %j",
    (ua) => {
      expect(deviceWords(ua, "en")).toBe("Unknown device");
      expect(deviceWords(ua, "fa")).toBe("دستگاه ناشناخته");
    },
  );

  it("says it in Persian, the names of products as they are", () => {
    expect(deviceWords("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "fa")).toBe("Chrome روی Windows");
    expect(deviceWords("grpcurl/v1.9.1 grpc-go/1.61.0", "fa")).toBe("grpcurl");
    expect(deviceWords("grpc-node-js/1.14.7", "fa")).toBe("برنامه‌ی gRPC");
  });
});

describe("activityWords", () => {
  const event = (type: string, details: Record<string, unknown> = {}, actor = "user:1") => ({ type, actor, details });

  it("has words for every event type, in both languages, none of them the bare type", () => {
    for (const type of AUDIT_EVENT_TYPES) {
      for (const lang of ["fa", "en"] as const) expect(activityWords(event(type), lang)).not.toBe(type);
    }
  });

  it("says what happened", () => {
    expect(activityWords(event("user.logged_in"), "en")).toBe("Logged in");
    expect(activityWords(event("user.logged_in"), "fa")).toBe("ورود به حساب");
    expect(activityWords(event("session.revoked"), "en")).toBe("A session ended from the list of devices");
  });

  it("counts the sessions an event ended, in the language's digits and plural", () => {
    expect(activityWords(event("session.logged_out_others", { revoked: 1 }), "en")).toBe("Logged out of every other device (1 session)");
    expect(activityWords(event("session.logged_out_all", { revoked: 3 }), "en")).toBe("Logged out of every device (3 sessions)");
    expect(activityWords(event("session.logged_out_all", { revoked: 3 }), "fa")).toBe("خروج از همه‌ی دستگاه‌ها (۳ نشست)");
  });

  it("names who did it when it was not the user", () => {
    expect(activityWords(event("admin.sessions_revoked", { revoked: 2 }, "staff:7"), "en")).toBe("Sessions ended (2 sessions) — by support staff");
    expect(activityWords(event("admin.user_updated", {}, "system"), "fa")).toBe("تغییر حساب — توسط سامانه");
    expect(activityWords(event("session.logged_out_all", {}, "service:crm"), "en")).toBe("Logged out of every device — by a service");
  });

  it("shows a type it does not know as it came", () => {
    expect(activityWords(event("user.teleported"), "en")).toBe("user.teleported");
  });
});

describe("timeAgo", () => {
  const now = Date.parse("2025-05-01T12:00:00Z");
  const ago = (seconds: number, locale = "en-GB") => timeAgo(new Date(now - seconds * 1000).toISOString(), locale, now);

  it("says now, then seconds, minutes, hours and days ago", () => {
    expect([ago(0), ago(30), ago(50), ago(90), ago(3_599), ago(3_600), ago(86_399), ago(86_400), ago(3 * 86_400)]).toEqual([
      "now",
      "now",
      "50 seconds ago",
      "1 minute ago",
      "59 minutes ago",
      "1 hour ago",
      "23 hours ago",
      "yesterday",
      "3 days ago",
    ]);
  });

  it("gives the date from a week on", () => {
    expect(ago(8 * 86_400)).toBe("23 Apr 2025");
  });

  it("says it in Persian with Persian digits", () => {
    expect(ago(600, "fa-IR")).toBe("۱۰ دقیقه پیش");
    expect(ago(0, "fa-IR")).toBe("اکنون");
  });

  it("takes a time a little ahead of this clock (the server's) as now", () => {
    expect(timeAgo(new Date(now + 5_000).toISOString(), "en-GB", now)).toBe("now");
  });
});
