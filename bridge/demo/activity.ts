/**
 * An audit event as a person reads it in "Recent activity": what happened, in
 * Persian or English, with the count of sessions it ended and who did it when that
 * was not the person themselves (staff, a service, the system).
 */
import type { AuditEventType } from "../../src/core/ports/audit.js";
import type { AuditEvent } from "../client/jwt-client.js";

export type ActivityLanguage = "fa" | "en";

type Words = Readonly<Record<ActivityLanguage, string>>;

/** Every type the trail has, so a new one cannot go without its words. */
const WHAT: Readonly<Record<AuditEventType, Words>> = {
  "user.registered": { fa: "ثبت‌نام", en: "Signed up" },
  "user.logged_in": { fa: "ورود به حساب", en: "Logged in" },
  "user.login_failed": { fa: "ورود ناموفق (کد نادرست یا منقضی)", en: "Failed login (wrong or expired code)" },
  "user.locked_out": { fa: "ورود پس از کدهای نادرست پیاپی مدتی بسته شد", en: "Logins blocked for a while after too many wrong codes" },
  "user.profile_updated": { fa: "تغییر پروفایل", en: "Profile changed" },
  "otp.sent": { fa: "ارسال کد تأیید", en: "Verification code sent" },
  "session.logged_out": { fa: "خروج از حساب", en: "Logged out" },
  "session.logged_out_all": { fa: "خروج از همه‌ی دستگاه‌ها", en: "Logged out of every device" },
  "session.logged_out_others": { fa: "خروج از همه‌ی دستگاه‌های دیگر", en: "Logged out of every other device" },
  "session.revoked": { fa: "پایان یک نشست از فهرست دستگاه‌ها", en: "A session ended from the list of devices" },
  "session.reuse_detected": { fa: "پایان نشست: یک توکن قدیمی دوباره به کار رفت", en: "Session ended: an old token was used again" },
  "admin.user_updated": { fa: "تغییر حساب", en: "Account changed" },
  "admin.sessions_revoked": { fa: "پایان نشست‌ها", en: "Sessions ended" },
  "legacy.token_exchanged": { fa: "ورود منتقل‌شده از سامانه‌ی قدیمی", en: "Login carried over from the old system" },
};

const SESSIONS: Readonly<Record<ActivityLanguage, Partial<Record<Intl.LDMLPluralRule, string>> & { other: string }>> = {
  fa: { other: "{n} نشست" },
  en: { one: "{n} session", other: "{n} sessions" },
};
const LOCALES: Words = { fa: "fa-IR", en: "en-GB" };

const BY: Readonly<Record<"staff" | "service" | "system", Words>> = {
  staff: { fa: "توسط پشتیبانی", en: "by support staff" },
  service: { fa: "توسط یک سرویس", en: "by a service" },
  system: { fa: "توسط سامانه", en: "by the system" },
};

export function activityWords(event: Pick<AuditEvent, "type" | "actor" | "details">, language: ActivityLanguage): string {
  const what = (WHAT as Readonly<Record<string, Words | undefined>>)[event.type]?.[language] ?? event.type;
  const parts = [what];
  const revoked = event.details.revoked;
  if (typeof revoked === "number") {
    const locale = LOCALES[language];
    const forms = SESSIONS[language];
    const form = forms[new Intl.PluralRules(locale).select(revoked)] ?? forms.other;
    parts.push(`(${form.replace("{n}", revoked.toLocaleString(locale))})`);
  }
  const by = actorKind(event.actor);
  if (by !== null) parts.push(`— ${BY[by][language]}`);
  return parts.join(" ");
}

/** Who did it, when it was not the user (`user:<id>`). */
function actorKind(actor: string): "staff" | "service" | "system" | null {
  if (actor.startsWith("staff:")) return "staff";
  if (actor.startsWith("service:")) return "service";
  if (actor === "system") return "system";
  return null;
}
