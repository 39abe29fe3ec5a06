/**
 * Every answer of the bridge is `{"success", "message", "data"}` JSON (the JWKS
 * routes aside); refusals carry their reason in `data.code` and take their status
 * from the one table in ./status.ts.
 */
import type { Locale } from "../../src/config.js";
import { messageOf, successMessage } from "../../src/rpc/index.js";
import type { Exchange, HttpResponse } from "./exchange.js";
import { httpMessageOf, isHttpReason, type BridgeReason } from "./reasons.js";
import { HTTP_STATUS_OF_REASON } from "./status.js";

export type Headers = Record<string, string | number>;

/** Why a request was refused, as the RPC layer or the bridge itself reports it. */
export interface Refusal {
  reason: BridgeReason;
  retryAfterSeconds?: number | undefined;
  field?: string | undefined;
}

export function sendJson(res: HttpResponse, status: number, body: unknown, headers: Headers = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
    ...headers,
  });
  res.end(text);
}

/** A success: `message` is the localized sentence for `key` (see src/rpc/messages.ts). */
export function sendSuccess(ex: Exchange, status: number, key: string, data: object, headers: Headers = {}): void {
  sendJson(ex.res, status, { success: true, message: successMessage(key, ex.locale), data }, headers);
}

/** The sentence for a refusal: the domain's (src/rpc) or, for an HTTP-only reason, the bridge's. */
export function refusalMessage(reason: BridgeReason, locale: Locale): string {
  return isHttpReason(reason) ? httpMessageOf(reason, locale) : messageOf(reason, locale);
}

export function sendRefusal(ex: Exchange, refusal: Refusal, headers: Headers = {}, extraData: object = {}): void {
  const status = HTTP_STATUS_OF_REASON[refusal.reason];
  const data: Record<string, unknown> = { ...extraData, code: refusal.reason };
  if (refusal.field !== undefined) data.field = refusal.field;
  const extra: Headers = { ...headers };
  if (status === 429) {
    const seconds = refusal.retryAfterSeconds ?? 1;
    data.retry_after = seconds;
    extra["Retry-After"] = seconds;
  }
  // An HTTP/1.1 body left unread would otherwise be drained before the next request.
  if (refusal.reason === "payload_too_large" && ex.req.httpVersionMajor === 1) extra.Connection = "close";
  sendJson(ex.res, status, { success: false, message: refusalMessage(refusal.reason, ex.locale), data }, extra);
}
