/**
 * A thrown error → a gRPC status (src/rpc's translation) with its `google.rpc.ErrorInfo`
 * detail in the standard `grpc-status-details-bin` trailer.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import type { Metadata, StatusObject } from "@grpc/grpc-js";
import type { Locale } from "../config.js";
import { rpcFailureOf } from "../rpc/index.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";

export function grpcStatusOf(error: unknown, locale: Locale, trailers: Metadata): Partial<StatusObject> {
  const failure = rpcFailureOf(error, locale);
  const status = create(StatusSchema, { code: failure.code, message: failure.message, details: [anyPack(ErrorInfoSchema, create(ErrorInfoSchema, failure.info))] });
  trailers.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, status)));
  if (failure.retryAfterSeconds !== undefined) trailers.set("retry-after", String(failure.retryAfterSeconds));
  return { code: failure.code as number, details: failure.message, metadata: trailers };
}
