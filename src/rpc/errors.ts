/**
 * Any error an implementation throws, turned into what a caller may see: a reason
 * from the one list, and nothing of the internals. The gRPC status of each reason,
 * and the status every RPC transport answers, are defined here, once (Connect codes
 * are the gRPC codes).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { Locale } from "../config.js";
import { AppError, UnavailableError, type Reason } from "../core/errors.js";
import type { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { messageOf } from "./messages.js";

export const GRPC_CODE_OF_REASON: Readonly<Record<Reason, Code>> = {
  validation_error: Code.InvalidArgument,
  invalid_phone: Code.InvalidArgument,
  otp_invalid: Code.InvalidArgument,
  otp_expired: Code.InvalidArgument,
  phone_already_registered: Code.FailedPrecondition,
  phone_not_registered: Code.FailedPrecondition,
  not_authenticated: Code.Unauthenticated,
  token_not_valid: Code.Unauthenticated,
  token_expired: Code.Unauthenticated,
  token_wrong_type: Code.Unauthenticated,
  session_expired: Code.Unauthenticated,
  token_blacklisted: Code.PermissionDenied,
  session_revoked: Code.PermissionDenied,
  permission_denied: Code.PermissionDenied,
  account_disabled: Code.PermissionDenied,
  cannot_modify_self: Code.FailedPrecondition,
  not_found: Code.NotFound,
  rate_limited: Code.ResourceExhausted,
  otp_attempts_exceeded: Code.ResourceExhausted,
  service_unavailable: Code.Unavailable,
  sms_unavailable: Code.Unavailable,
  internal_error: Code.Internal,
};

export const ERROR_DOMAIN = "identity.v1";

/** Index = status code: `OK`, `CANCELLED`, … `UNAUTHENTICATED` (Connect's Code has no
 * member for success, and names the rest in camel case). Made once: metrics name the
 * code of every call. */
const GRPC_CODE_NAMES: readonly string[] = Array.from({ length: 17 }, (_, code) =>
  code === 0 ? "OK" : Code[code as Code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase(),
);

/** The gRPC name of a status code (`INVALID_ARGUMENT`), as traces and metrics spell it. */
export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? String(code);
}

export interface PublicError {
  reason: Reason;
  code: Code;
  retryAfterSeconds?: number | undefined;
  field?: string | undefined;
  /** True when the cause was a bug or an unknown failure (log it with its stack). */
  unexpected: boolean;
}

export function toPublicError(error: unknown): PublicError {
  if (error instanceof AppError) {
    return { reason: error.reason, code: GRPC_CODE_OF_REASON[error.reason], retryAfterSeconds: error.retryAfterSeconds, field: error.field, unexpected: false };
  }
  if (error instanceof UnavailableError) {
    return { reason: "service_unavailable", code: Code.Unavailable, unexpected: false };
  }
  return { reason: "internal_error", code: Code.Internal, unexpected: true };
}

/** A failed call as every RPC transport answers it (grpc-js as a status, Connect as a ConnectError). */
export interface RpcFailure {
  code: Code;
  /** For people, in the caller's language. */
  message: string;
  /** The `google.rpc.ErrorInfo` detail: the reason, in ERROR_DOMAIN, with `retry_after` / `field`. */
  info: MessageInitShape<typeof ErrorInfoSchema>;
  /** Sent as `retry-after` response metadata too, for HTTP-minded callers. */
  retryAfterSeconds: number | undefined;
}

export function rpcFailureOf(error: unknown, locale: Locale): RpcFailure {
  const e = toPublicError(error);
  const metadata: Record<string, string> = {};
  if (e.retryAfterSeconds !== undefined) metadata.retry_after = String(e.retryAfterSeconds);
  if (e.field !== undefined) metadata.field = e.field;
  return { code: e.code, message: messageOf(e.reason, locale), info: { reason: e.reason, domain: ERROR_DOMAIN, metadata }, retryAfterSeconds: e.retryAfterSeconds };
}
