/**
 * The demo page at `/`: everything goes through `window.jwtClient`. A message
 * shown after a server call is the server's own sentence for the answer's `code`
 * (the service's table, src/rpc/messages.ts, and the bridge's own,
 * bridge/http/reasons.ts, bundled in: the browser bundle cannot take src/rpc's
 * index, which brings the server along), so that switching the
 * language can say it again in the other language.
 */
import { isReason } from "../../src/core/errors.js";
import { messageOf, successMessage } from "../../src/rpc/messages.js";
import { httpMessageOf, isHttpReason } from "../http/reasons.js";
import type { AuditEvent, AuthChange, JwtClient, Session, User } from "../client/jwt-client.js";
import { NETWORK_MESSAGES } from "../client/network-message.js";
import { activityRow, sessionRow } from "./security-lists.js";
import { fullTime, timeAgo } from "./time-words.js";

type Lang = "fa" | "en";

const TEXT: Record<Lang, Record<string, string>> = {
  fa: {
    title: "ورود با کد یک‌بارمصرف",
    signedOut: "وارد نشده‌اید.",
    signedIn: "وارد شده‌اید با",
    expires: "توکن دسترسی تا {s} ثانیه‌ی دیگر معتبر است.",
    authTitle: "ثبت‌نام یا ورود",
    purpose: "می‌خواهم",
    login: "وارد شوم",
    register: "ثبت‌نام کنم",
    phone: "شماره‌ی موبایل",
    firstName: "نام",
    lastName: "نام خانوادگی",
    sendCode: "ارسال کد",
    code: "کد تأیید",
    verify: "تأیید",
    profileTitle: "پروفایل",
    name: "نام",
    joined: "عضویت",
    lastLogin: "آخرین ورود",
    save: "ذخیره",
    reload: "بارگیری دوباره",
    refresh: "تازه‌کردن توکن",
    logout: "خروج",
    logoutAll: "خروج از همه‌ی دستگاه‌ها",
    footer: "این صفحه فقط از این کتابخانه استفاده می‌کند:",
    ended: "نشست شما به پایان رسید. دوباره وارد شوید.",
    elsewhere: "در زبانه‌ی دیگری از حساب خارج شدید.",
    codeDigits: "کد تأیید باید {n} رقم باشد.",
    wait: "{d} دیگر می‌توانید دوباره تلاش کنید.",
    otherLang: "English",
    never: "—",
    sessionsTitle: "کجا وارد شده‌اید",
    thisDevice: "همین دستگاه",
    lastUsed: "آخرین استفاده: {when}",
    endSession: "پایان نشست",
    logoutOthers: "خروج از همه‌ی دستگاه‌های دیگر",
    activityTitle: "فعالیت‌های اخیر",
    noActivity: "هنوز فعالیتی ثبت نشده است.",
  },
  en: {
    title: "One-time code sign-in",
    signedOut: "You are not signed in.",
    signedIn: "Signed in as",
    expires: "The access token is valid for {s} more seconds.",
    authTitle: "Sign up or log in",
    purpose: "I want to",
    login: "log in",
    register: "sign up",
    phone: "Mobile number",
    firstName: "First name",
    lastName: "Last name",
    sendCode: "Send code",
    code: "Verification code",
    verify: "Verify",
    profileTitle: "Profile",
    name: "Name",
    joined: "Joined",
    lastLogin: "Last login",
    save: "Save",
    reload: "Reload",
    refresh: "Refresh token",
    logout: "Log out",
    logoutAll: "Log out everywhere",
    footer: "This page uses nothing but",
    ended: "Your session has ended. Please log in again.",
    elsewhere: "You logged out in another tab.",
    codeDigits: "The verification code must have {n} digits.",
    wait: "You can try again in {d}.",
    otherLang: "فارسی",
    never: "—",
    sessionsTitle: "Where you're logged in",
    thisDevice: "This device",
    lastUsed: "Last used {when}",
    endSession: "End session",
    logoutOthers: "Log out everywhere else",
    activityTitle: "Recent activity",
    noActivity: "No activity yet.",
  },
};

const client: JwtClient = window.jwtClient!;
let lang: Lang = localStorage.getItem("demo.lang") === "en" ? "en" : "fa";
/** Digits in a code, as the last send-otp answer said (null before any). */
let codeLength: number | null = null;
/** The wait for the SMS to fill the code in (WebOTP), until the person types it, leaves or starts over. */
let smsWait: AbortController | null = null;
/** The sessions and the activity as last loaded (null while signed out, or before the first load). */
let lists: { sessions: Session[]; events: AuditEvent[] } | null = null;

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing`);
  return element as T;
}

function t(key: string): string {
  return TEXT[lang][key] ?? key;
}

function locale(): string {
  return lang === "fa" ? "fa-IR" : "en-GB";
}

function applyLanguage(): void {
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === "fa" ? "rtl" : "ltr";
  document.title = t("title");
  for (const element of document.querySelectorAll<HTMLElement>("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n!);
  }
  const toggle = $("lang");
  toggle.textContent = t("otherLang");
  toggle.lang = lang === "fa" ? "en" : "fa";
  client.setLanguage(lang);
  render();
  renderMessage();
}

/** The message on show, as a sentence to say in whichever language is current. */
let shown: { say: () => string; kind: "ok" | "error" } | null = null;

function show(say: () => string, kind: "ok" | "error"): void {
  shown = { say, kind };
  renderMessage();
}

function renderMessage(): void {
  if (shown === null) return;
  const message = $("message");
  message.textContent = shown.say();
  message.className = `message ${shown.kind}`;
  message.hidden = false;
}

/** "The code must have N digits", N as it is now (a later send-otp may change it). */
function sayCodeDigits(digits: number): () => string {
  return () => t("codeDigits").replace("{n}", digits.toLocaleString(locale()));
}

/** "45 seconds" or, from two minutes on, "3 minutes": what is left of the wait until `until`. */
function waitFor(until: number): string {
  const seconds = Math.max(1, Math.ceil((until - Date.now()) / 1000));
  const [value, unit] = seconds < 120 ? [seconds, "second"] : [Math.ceil(seconds / 60), "minute"];
  const amount = new Intl.NumberFormat(locale(), { style: "unit", unit, unitDisplay: "long" }).format(value);
  return t("wait").replace("{d}", amount);
}

/** A refusal as the client reports it (`code`, `data`), or any other failure. */
function sayError(error: unknown): () => string {
  const { code, data } = error as { code?: unknown; data?: { field?: unknown; retry_after?: unknown } };
  if (code === "validation_error" && data?.field === "code" && codeLength !== null) return sayCodeDigits(codeLength);
  if (code === "network_error") return () => NETWORK_MESSAGES[lang];
  if (typeof code === "string" && isHttpReason(code)) return () => httpMessageOf(code, lang);
  if (typeof code === "string" && isReason(code)) {
    const retryAfter = data?.retry_after;
    if (typeof retryAfter !== "number") return () => messageOf(code, lang);
    const until = Date.now() + retryAfter * 1000;
    return () => `${messageOf(code, lang)} ${waitFor(until)}`;
  }
  // Nothing to say it again from (e.g. a proxy's own error page): the text as it came.
  const text = error instanceof Error ? error.message : String(error);
  return () => text;
}

function formatDate(iso: string | null): string {
  return iso === null ? t("never") : fullTime(iso, locale());
}

function render(): void {
  const user = client.getUserData();
  const signedIn = client.isAuthenticated();
  $("auth").hidden = signedIn;
  $("profile").hidden = !signedIn;
  const status = $("status");
  status.textContent = t(signedIn ? "signedIn" : "signedOut");
  if (signedIn && user) {
    // The phone is left-to-right inside a right-to-left sentence.
    const phone = document.createElement("bdi");
    phone.dir = "ltr";
    phone.textContent = user.phone;
    status.append(" ", phone);
  }
  if (user) renderUser(user);
  renderExpiry();
  renderLists();
}

function renderUser(user: User): void {
  $("user-phone-number").textContent = user.phone;
  $("user-name-text").textContent = `${user.first_name} ${user.last_name}`.trim() || t("never");
  $("user-joined").textContent = formatDate(user.date_joined);
  $("user-last-login").textContent = formatDate(user.last_login);
  const first = $<HTMLInputElement>("profile-first-name");
  const last = $<HTMLInputElement>("profile-last-name");
  if (document.activeElement !== first) first.value = user.first_name;
  if (document.activeElement !== last) last.value = user.last_name;
}

function renderExpiry(): void {
  const expires = $("expires");
  const at = client.accessExpiresAt();
  expires.hidden = at === null;
  if (at === null) return;
  const seconds = Math.max(0, Math.round((at.getTime() - Date.now()) / 1000));
  expires.textContent = t("expires").replace("{s}", seconds.toLocaleString(locale()));
}

function renderLists(): void {
  const on = client.isAuthenticated() && lists !== null;
  $("sessions").hidden = !on;
  $("activity").hidden = !on;
  if (!on) return;
  const language = { lang, locale: locale(), t };
  $("session-list").replaceChildren(...lists!.sessions.map((session) => sessionRow(session, language)));
  $("activity-list").replaceChildren(...lists!.events.map((event) => activityRow(event, language)));
  $("activity-empty").hidden = lists!.events.length > 0;
  // Nothing to log out of when this is the only session.
  $("logout-others").hidden = !lists!.sessions.some((session) => !session.current);
}

/** "now" becomes "2 minutes ago" as the page stays open (the rows themselves stay: a button may be under the pointer). */
function renderTimesAgo(): void {
  for (const time of document.querySelectorAll<HTMLTimeElement>("#sessions time, #activity time")) time.textContent = timeAgo(time.dateTime, locale());
}

/** Loads the sessions and the activity; the failure, if any, for the caller to say. */
async function loadLists(): Promise<unknown> {
  try {
    const [sessions, activity] = await Promise.all([client.listSessions(), client.getActivity()]);
    lists = { sessions: sessions.data.sessions, events: activity.data.events };
    return null;
  } catch (error) {
    return error;
  } finally {
    renderLists();
  }
}

/**
 * Runs a server call with its button disabled; says `success` (a key of the
 * service's table) or why it failed, once the lists show what the call changed.
 */
async function act(button: HTMLButtonElement, success: string, task: () => Promise<unknown>): Promise<void> {
  button.disabled = true;
  let outcome: { say: () => string; kind: "ok" | "error" };
  try {
    await task();
    outcome = { say: () => successMessage(success, lang), kind: "ok" };
  } catch (error) {
    outcome = { say: sayError(error), kind: "error" };
  }
  if (client.isAuthenticated()) {
    const failed = await loadLists();
    if (failed !== null && outcome.kind === "ok") outcome = { say: sayError(failed), kind: "error" };
  }
  button.disabled = false;
  show(outcome.say, outcome.kind);
  render();
}

function purpose(): "login" | "register" {
  return $<HTMLInputElement>("purpose-register").checked ? "register" : "login";
}

/** Stops waiting for the SMS: the code is typed, or no longer wanted. */
function stopReadingSms(): void {
  smsWait?.abort();
  smsWait = null;
}

/** Where the browser can read the code from the SMS (WebOTP), fills the code field with it. */
function fillCodeFromSms(): void {
  stopReadingSms();
  if (!client.supportsWebOtp) return;
  const wait = new AbortController();
  smsWait = wait;
  client.readOtpFromSms({ signal: wait.signal }).then(
    (code) => {
      if (wait.signal.aborted) return;
      smsWait = null;
      $<HTMLInputElement>("code").value = code;
    },
    // Stopped, declined by the person, or no SMS came: typing the code works as ever.
    () => undefined,
  );
}

/** The sign-in forms as a new visitor finds them: login chosen, nothing typed. */
function resetAuthForms(): void {
  stopReadingSms();
  $<HTMLFormElement>("otp-form").reset();
  $<HTMLFormElement>("verify-form").reset();
  $("names").hidden = true;
  $("verify-form").hidden = true;
  codeLength = null;
}

/**
 * The code as typed, Persian or Arabic-Indic digits (a Persian keyboard's) read as
 * ASCII ones: both ranges start at a multiple of 16, so the low four bits are the digit.
 */
function typedCode(): string {
  return $<HTMLInputElement>("code")
    .value.trim()
    .replace(/[\u06F0-\u06F9\u0660-\u0669]/g, (d) => String(d.charCodeAt(0) & 0xf));
}

async function loadProfile(): Promise<void> {
  const response = await client.apiRequest("/dashboard/");
  await throwUnlessSuccess(response);
}

/** `apiRequest` answers with a Response: a refusal becomes an error like the client's own. */
async function throwUnlessSuccess(response: Response): Promise<void> {
  const envelope = (await response.json()) as { success: boolean; message: string; data?: { code?: unknown } };
  if (!envelope.success) throw Object.assign(new Error(envelope.message), { code: envelope.data?.code, data: envelope.data });
}

function wire(): void {
  $("lang").addEventListener("click", () => {
    lang = lang === "fa" ? "en" : "fa";
    localStorage.setItem("demo.lang", lang);
    applyLanguage();
  });

  for (const id of ["purpose-login", "purpose-register"]) {
    $(id).addEventListener("change", () => ($("names").hidden = purpose() !== "register"));
  }

  $("otp-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void act($<HTMLButtonElement>("send-otp"), "otp_sent", async () => {
      const envelope = await client.sendOTP($<HTMLInputElement>("phone").value, purpose());
      codeLength = typeof envelope.data.code_length === "number" ? envelope.data.code_length : null;
      $("verify-form").hidden = false;
      $("code").focus();
      fillCodeFromSms();
    });
  });
  $("code").addEventListener("input", stopReadingSms);
  window.addEventListener("pagehide", stopReadingSms);

  $("verify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    stopReadingSms();
    const code = typedCode();
    // The server would refuse it as a bare validation_error: say what is wrong, without asking.
    if (codeLength !== null && !new RegExp(`^\\d{${codeLength}}$`).test(code)) {
      show(sayCodeDigits(codeLength), "error");
      return;
    }
    const registering = purpose() === "register";
    void act($<HTMLButtonElement>("verify"), registering ? "registered" : "logged_in", async () => {
      const phone = $<HTMLInputElement>("phone").value;
      if (registering) await client.register(phone, code, $<HTMLInputElement>("first-name").value, $<HTMLInputElement>("last-name").value);
      else await client.login(phone, code);
      resetAuthForms();
    });
  });

  $("profile-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void act($<HTMLButtonElement>("save-profile"), "profile_updated", async () => {
      const response = await client.apiRequest("/profile/", {
        method: "PATCH",
        body: { first_name: $<HTMLInputElement>("profile-first-name").value, last_name: $<HTMLInputElement>("profile-last-name").value },
      });
      await throwUnlessSuccess(response);
    });
  });

  const button = (event: Event) => event.currentTarget as HTMLButtonElement;
  $("reload-profile").addEventListener("click", (event) => void act(button(event), "ok", loadProfile));
  $("refresh").addEventListener("click", (event) => void act(button(event), "refreshed", () => client.refreshToken()));
  $("logout").addEventListener("click", (event) => void act(button(event), "logged_out", () => client.logout()));
  $("logout-all").addEventListener("click", (event) => void act(button(event), "logged_out_all", () => client.logoutAll()));
  $("logout-others").addEventListener("click", (event) => void act(button(event), "logged_out_others", () => client.logoutOthers()));
  $("session-list").addEventListener("click", (event) => {
    const end = (event.target as Element).closest<HTMLButtonElement>("button.end-session");
    const id = end?.dataset.sessionId;
    if (end === null || id === undefined) return;
    // Ending this device's own session is logging out.
    const own = lists?.sessions.find((session) => session.id === id)?.current === true;
    void act(end, own ? "logged_out" : "session_ended", () => client.revokeSession(id));
  });

  client.onAuthChange((change: AuthChange) => {
    if (!change.authenticated) {
      resetAuthForms();
      lists = null;
    }
    if (!change.authenticated && change.reason === "revoked") show(() => t("ended"), "error");
    render();
  });
  window.addEventListener("storage", (event) => {
    if (event.key !== null && event.key !== "jwt-client.session") return;
    if (!client.isAuthenticated()) show(() => t("elsewhere"), "ok");
    // Logged in in another tab: this one lists the sessions too.
    else if (lists === null) void loadLists().then(sayFailure);
  });
  setInterval(() => {
    renderExpiry();
    renderTimesAgo();
  }, 1000);
}

/** Says why a load failed, unless it ended the session (the page said so already). */
function sayFailure(failed: unknown): void {
  if (failed !== null && client.isAuthenticated()) show(sayError(failed), "error");
}

wire();
applyLanguage();
if (client.isAuthenticated()) {
  void Promise.all([loadProfile().catch(() => undefined), loadLists()]).then(([, failed]) => {
    sayFailure(failed);
    render();
  });
}
