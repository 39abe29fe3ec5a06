/** What people read: one sentence per reason, in Persian and English. */
import type { Locale } from "../config.js";
import type { Reason } from "../core/errors.js";

const MESSAGES: Readonly<Record<Reason, Readonly<Record<Locale, string>>>> = {
  validation_error: { fa: "اطلاعات ارسال‌شده معتبر نیست.", en: "The request is not valid." },
  invalid_phone: { fa: "شماره‌ی موبایل معتبر نیست.", en: "The phone number is not a valid mobile number." },
  otp_invalid: { fa: "کد تأیید نادرست است.", en: "The verification code is incorrect." },
  otp_expired: { fa: "کد تأیید منقضی شده یا وجود ندارد. کد جدید بگیرید.", en: "The verification code has expired or was never sent. Request a new one." },
  phone_already_registered: { fa: "این شماره قبلاً ثبت‌نام کرده است.", en: "This phone number is already registered." },
  phone_not_registered: { fa: "این شماره ثبت‌نام نکرده است.", en: "This phone number is not registered." },
  not_authenticated: { fa: "برای این کار باید وارد شوید.", en: "Authentication credentials were not provided." },
  token_not_valid: { fa: "توکن معتبر نیست.", en: "The token is not valid." },
  token_expired: { fa: "توکن منقضی شده است.", en: "The token has expired." },
  token_wrong_type: { fa: "نوع توکن درست نیست.", en: "The token has the wrong type." },
  session_expired: { fa: "نشست شما به پایان رسیده است. دوباره وارد شوید.", en: "Your session has expired. Please log in again." },
  token_blacklisted: { fa: "این توکن باطل شده است.", en: "The token is blacklisted." },
  session_revoked: { fa: "این نشست باطل شده است. دوباره وارد شوید.", en: "This session has been revoked. Please log in again." },
  permission_denied: { fa: "اجازه‌ی این کار را ندارید.", en: "You do not have permission to do this." },
  account_disabled: { fa: "این حساب غیرفعال شده است.", en: "This account has been disabled." },
  cannot_modify_self: { fa: "نمی‌توانید وضعیت یا دسترسی حساب خودتان را تغییر دهید.", en: "You cannot change your own active or staff status." },
  not_found: { fa: "یافت نشد.", en: "Not found." },
  rate_limited: { fa: "تعداد درخواست‌ها زیاد است. کمی بعد دوباره تلاش کنید.", en: "Too many requests. Please try again later." },
  otp_attempts_exceeded: { fa: "تعداد تلاش‌های نادرست بیش از حد مجاز است. کد جدید بگیرید.", en: "Too many wrong attempts. Request a new code." },
  service_unavailable: { fa: "سرویس موقتاً در دسترس نیست. کمی بعد دوباره تلاش کنید.", en: "The service is temporarily unavailable. Please try again shortly." },
  sms_unavailable: { fa: "ارسال پیامک ممکن نشد. کمی بعد دوباره تلاش کنید.", en: "The SMS could not be sent. Please try again shortly." },
  internal_error: { fa: "خطای داخلی رخ داد.", en: "An internal error occurred." },
};

export function messageOf(reason: Reason, locale: Locale): string {
  return MESSAGES[reason][locale];
}

const SUCCESS: Readonly<Record<string, Readonly<Record<Locale, string>>>> = {
  ok: { fa: "انجام شد.", en: "Done." },
  otp_sent: { fa: "کد تأیید ارسال شد.", en: "The verification code was sent." },
  registered: { fa: "ثبت‌نام انجام شد.", en: "Registration complete." },
  logged_in: { fa: "با موفقیت وارد شدید.", en: "Logged in." },
  logged_out: { fa: "از حساب خارج شدید.", en: "Logged out." },
  logged_out_all: { fa: "از همه‌ی دستگاه‌ها خارج شدید.", en: "Logged out of every device." },
  refreshed: { fa: "توکن تازه شد.", en: "Token refreshed." },
  token_valid: { fa: "توکن معتبر است.", en: "The token is valid." },
  profile_updated: { fa: "پروفایل به‌روز شد.", en: "Profile updated." },
  user_updated: { fa: "کاربر به‌روز شد.", en: "The user was updated." },
  user_sessions_revoked: { fa: "همه‌ی نشست‌های کاربر پایان یافت.", en: "Every session of the user was ended." },
  sessions: { fa: "نشست‌های فعال شما.", en: "Your active sessions." },
  session_ended: { fa: "نشست پایان یافت.", en: "The session was ended." },
  logged_out_others: { fa: "از همه‌ی دستگاه‌های دیگر خارج شدید.", en: "Logged out of every other device." },
  activity: { fa: "فعالیت‌های اخیر حساب شما.", en: "Your recent account activity." },
};

export function successMessage(key: string, locale: Locale): string {
  return (SUCCESS[key] ?? SUCCESS.ok!)[locale];
}
