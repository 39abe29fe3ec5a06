/**
 * Reading a one-time code from an incoming SMS with the WebOTP API. The service's
 * SMS ends with `@<SMS_WEBOTP_DOMAIN> #<code>` when that variable is set; a browser
 * on a page of that domain (Chrome on Android, or desktop Chrome paired with one)
 * then offers the code to the page, once the person agrees.
 */

/** What `navigator.credentials.get` takes and gives for WebOTP (not in TypeScript's DOM types yet). */
interface OtpRequest extends CredentialRequestOptions {
  otp: { transport: "sms"[] };
}
interface OtpCredentialLike {
  code?: unknown;
}

/** Whether this browser has WebOTP (the page must also be a secure context, which the API needs). */
export function webOtpSupported(): boolean {
  return typeof window !== "undefined" && "OTPCredential" in window && typeof navigator.credentials?.get === "function";
}

/**
 * The code of the next SMS bound to this page's domain. Rejects with a
 * `NotSupportedError` DOMException where there is no WebOTP (without asking the
 * browser anything), with the browser's `AbortError` when `signal` aborts, and with
 * a `NotFoundError` when the browser answers without a code.
 */
export async function readSmsCode(signal?: AbortSignal): Promise<string> {
  if (!webOtpSupported()) throw new DOMException("This browser cannot read one-time codes from SMS (no WebOTP API)", "NotSupportedError");
  const request: OtpRequest = { otp: { transport: ["sms"] }, signal };
  const credential = (await navigator.credentials.get(request)) as OtpCredentialLike | null;
  const code = credential?.code;
  if (typeof code !== "string" || code === "") throw new DOMException("The browser gave no one-time code", "NotFoundError");
  return code;
}
