/**
 * Refusals only HTTP has (a body, a route, a method): the bridge's own reasons,
 * beside the domain's (src/core/errors.ts). They share `data.code` and the status
 * table (./status.ts), never an RPC. Pure data, so the demo page bundles it too.
 */
import type { Locale } from "../../src/config.js";
import { isReason, type Reason } from "../../src/core/errors.js";

export const HTTP_REASONS = ["invalid_json", "method_not_allowed", "payload_too_large", "unsupported_media_type"] as const;

export type HttpReason = (typeof HTTP_REASONS)[number];

/** Every `data.code` the bridge answers with. */
export type BridgeReason = Reason | HttpReason;

const httpReasons: ReadonlySet<string> = new Set(HTTP_REASONS);

export function isHttpReason(value: string): value is HttpReason {
  return httpReasons.has(value);
}

export function isBridgeReason(value: string): value is BridgeReason {
  return isReason(value) || isHttpReason(value);
}

/** A request the bridge refuses before any RPC, for an HTTP-only reason. */
export class HttpRefusal extends Error {
  constructor(readonly reason: HttpReason) {
    super(reason);
    this.name = "HttpRefusal";
  }
}

const MESSAGES: Readonly<Record<HttpReason, Readonly<Record<Locale, string>>>> = {
  invalid_json: { fa: "بدنه‌ی درخواست JSON معتبر نیست.", en: "The request body is not valid JSON." },
  method_not_allowed: { fa: "این متد مجاز نیست.", en: "Method not allowed." },
  payload_too_large: { fa: "حجم درخواست بیش از حد مجاز است.", en: "The request body is too large." },
  unsupported_media_type: { fa: "نوع محتوا پشتیبانی نمی‌شود؛ JSON بفرستید.", en: "Unsupported media type; send JSON." },
};

/** The sentence for an HTTP-only reason (the domain's are src/rpc's messageOf). */
export function httpMessageOf(reason: HttpReason, locale: Locale): string {
  return MESSAGES[reason][locale];
}
