/**
 * A thrown error → a gRPC status with a `google.rpc.ErrorInfo` detail carrying the
 * reason, in the standard `grpc-status-details-bin` trailer.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Metadata, type StatusObject } from "@grpc/grpc-js";
import type { Locale } from "../config.js";
import { ERROR_DOMAIN, toPublicError } from "../rpc/errors.js";
import { messageOf } from "../rpc/messages.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";

export function grpcStatusOf(error: unknown, locale: Locale, trailers: Metadata): Partial<StatusObject> {
  const e = toPublicError(error);
  const message = messageOf(e.reason, locale);
  const metadata: Record<string, string> = {};
  if (e.retryAfterSeconds !== undefined) metadata.retry_after = String(e.retryAfterSeconds);
  if (e.field !== undefined) metadata.field = e.field;
  const info = create(ErrorInfoSchema, { reason: e.reason, domain: ERROR_DOMAIN, metadata });
  const status = create(StatusSchema, { code: e.code, message, details: [anyPack(ErrorInfoSchema, info)] });
  trailers.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, status)));
  if (e.retryAfterSeconds !== undefined) trailers.set("retry-after", String(e.retryAfterSeconds));
  return { code: e.code as number, details: message, metadata: trailers };
}
