/**
 * Errors across the RPC boundary, both ways, shared by every path through the
 * bridge: a handler's error becomes the ConnectError a remote gRPC server would
 * have sent (src/rpc's translation, as a ConnectError), and any ConnectError,
 * local or remote, is read back into a reason.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Locale } from "../../src/config.js";
import { AppError, isReason, type Reason } from "../../src/core/errors.js";
import { ERROR_DOMAIN, rpcFailureOf } from "../../src/rpc/index.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { Refusal } from "../http/envelope.js";
import { RESPONSE_HEADERS, pickHeaders } from "./call-values.js";

export function toConnectError(error: unknown, locale: Locale): ConnectError {
  if (error instanceof ConnectError) return error;
  const failure = rpcFailureOf(error, locale);
  const headers = new Headers();
  if (failure.retryAfterSeconds !== undefined) headers.set("retry-after", String(failure.retryAfterSeconds));
  return new ConnectError(failure.message, failure.code, headers, [{ desc: ErrorInfoSchema, value: failure.info }], error);
}

/**
 * The same error fit to be answered to a Connect-protocol caller: only the
 * metadata meant for callers survives (an upstream's transport headers, such as
 * its content-type, would otherwise be copied into our answer).
 */
export function toReplyError(error: unknown, locale: Locale): ConnectError {
  const e = toConnectError(error, locale);
  // No reason of ours: the transport's own failure (its message may name hosts); say it plainly.
  if (!hasReason(e)) return toConnectError(new AppError(refusalOf(e)?.reason ?? "internal_error"), locale);
  const reply = new ConnectError(e.rawMessage, e.code, pickHeaders(e.metadata, RESPONSE_HEADERS), undefined, e.cause);
  reply.details = e.details;
  return reply;
}

function hasReason(error: ConnectError): boolean {
  return error.findDetails(ErrorInfoSchema).some((info) => info.domain === ERROR_DOMAIN && isReason(info.reason));
}

/** The reason an RPC failed for; an upstream that cannot be reached has no detail, only a code. */
export function refusalOf(error: unknown): (Refusal & { reason: Reason }) | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  for (const info of error.findDetails(ErrorInfoSchema)) {
    if (info.domain !== ERROR_DOMAIN || !isReason(info.reason)) continue;
    const retryAfter = Number(info.metadata.retry_after);
    return {
      reason: info.reason,
      retryAfterSeconds: Number.isInteger(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      field: info.metadata.field,
    };
  }
  switch (error.code) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
    case Code.Canceled:
      return { reason: "service_unavailable" };
    default:
      return { reason: "internal_error" };
  }
}
