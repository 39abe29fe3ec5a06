/**
 * The demo page at `/`: everything goes through `window.jwtClient`, and every
 * message shown after a server call is the server's own (localized) message.
 */
import type { AuthChange, JwtClient, User } from "../client/jwt-client.js";

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
    otherLang: "English",
    never: "—",
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
    otherLang: "فارسی",
    never: "—",
  },
};

const client: JwtClient = window.jwtClient!;
let lang: Lang = localStorage.getItem("demo.lang") === "en" ? "en" : "fa";

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing`);
  return element as T;
}

function t(key: string): string {
  return TEXT[lang][key] ?? key;
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
}

function show(text: string, kind: "ok" | "error"): void {
  const message = $("message");
  message.textContent = text;
  message.className = `message ${kind}`;
  message.hidden = false;
}

function formatDate(iso: string | null): string {
  if (iso === null) return t("never");
  return new Date(iso).toLocaleString(lang === "fa" ? "fa-IR" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
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
}

function renderUser(user: User): void {
  $("user-phone").textContent = user.phone;
  $("user-name").textContent = `${user.first_name} ${user.last_name}`.trim() || t("never");
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
  expires.textContent = t("expires").replace("{s}", seconds.toLocaleString(lang === "fa" ? "fa-IR" : "en-GB"));
}

/** Runs a server call with its button disabled; shows the server's message either way. */
async function act(button: HTMLButtonElement, task: () => Promise<{ message: string } | void>): Promise<void> {
  button.disabled = true;
  try {
    const result = await task();
    if (result && result.message) show(result.message, "ok");
  } catch (error) {
    show(error instanceof Error ? error.message : String(error), "error");
  } finally {
    button.disabled = false;
    render();
  }
}

function purpose(): "login" | "register" {
  return $<HTMLInputElement>("purpose-register").checked ? "register" : "login";
}

async function loadProfile(): Promise<{ message: string }> {
  const response = await client.apiRequest("/dashboard/");
  const envelope = (await response.json()) as { success: boolean; message: string };
  if (!envelope.success) throw new Error(envelope.message);
  return envelope;
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
    void act($<HTMLButtonElement>("send-otp"), async () => {
      const envelope = await client.sendOTP($<HTMLInputElement>("phone").value, purpose());
      $("verify-form").hidden = false;
      $("code").focus();
      return envelope;
    });
  });

  $("verify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void act($<HTMLButtonElement>("verify"), async () => {
      const phone = $<HTMLInputElement>("phone").value;
      const code = $<HTMLInputElement>("code").value;
      const envelope =
        purpose() === "register"
          ? await client.register(phone, code, $<HTMLInputElement>("first-name").value, $<HTMLInputElement>("last-name").value)
          : await client.login(phone, code);
      $<HTMLFormElement>("verify-form").reset();
      $("verify-form").hidden = true;
      return envelope;
    });
  });

  $("profile-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void act($<HTMLButtonElement>("save-profile"), async () => {
      const response = await client.apiRequest("/profile/", {
        method: "PATCH",
        body: { first_name: $<HTMLInputElement>("profile-first-name").value, last_name: $<HTMLInputElement>("profile-last-name").value },
      });
      const envelope = (await response.json()) as { success: boolean; message: string };
      if (!envelope.success) throw new Error(envelope.message);
      return envelope;
    });
  });

  $("reload-profile").addEventListener("click", (event) => void act(event.currentTarget as HTMLButtonElement, loadProfile));
  $("refresh").addEventListener("click", (event) => void act(event.currentTarget as HTMLButtonElement, () => client.refreshToken()));
  $("logout").addEventListener("click", (event) => void act(event.currentTarget as HTMLButtonElement, () => client.logout()));
  $("logout-all").addEventListener("click", (event) => void act(event.currentTarget as HTMLButtonElement, () => client.logoutAll()));

  client.onAuthChange((change: AuthChange) => {
    if (!change.authenticated && change.reason === "revoked") show(t("ended"), "error");
    render();
  });
  window.addEventListener("storage", (event) => {
    if (event.key !== null && event.key !== "jwt-client.session") return;
    if (!client.isAuthenticated()) show(t("elsewhere"), "ok");
  });
  setInterval(renderExpiry, 1000);
}

wire();
applyLanguage();
if (client.isAuthenticated()) void loadProfile().catch(() => undefined).then(render);
