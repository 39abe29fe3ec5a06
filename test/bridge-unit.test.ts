/**
 * The bridge's pieces without any store: the one reason → status table, error
 * conversion both ways, the in-process transport, field typing and paths.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { fields } from "../bridge/api/fields.js";
import { normalizePath } from "../bridge/http/exchange.js";
import { HTTP_REASONS } from "../bridge/http/reasons.js";
import { HTTP_STATUS_OF_REASON } from "../bridge/http/status.js";
import { callValues } from "../bridge/rpc/call-values.js";
import { refusalOf, toConnectError, toReplyError } from "../bridge/rpc/errors.js";
import { createInProcessTransport } from "../bridge/rpc/in-process-transport.js";
import { AppError, REASONS, UnavailableError } from "../src/core/errors.js";
import { clientIpKey, clientUserAgentKey, type CallContext } from "../src/rpc/index.js";
import { GRPC_CODE_OF_REASON } from "../src/rpc/errors.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { AuthService, SendOtpRequestSchema } from "../gen/identity/v1/auth_pb.js";

/** DESIGN.md, "HTTP bridge" and "Operating it": the reasons and their statuses. */
const DESIGN_TABLE: Record<number, readonly string[]> = {
  400: ["validation_error", "invalid_json", "invalid_phone", "otp_invalid", "otp_expired", "phone_already_registered", "phone_not_registered", "cannot_modify_self"],
  401: ["not_authenticated", "token_not_valid", "token_expired", "token_wrong_type", "session_expired"],
  403: ["token_blacklisted", "session_revoked", "permission_denied", "account_disabled"],
  404: ["not_found"],
  405: ["method_not_allowed"],
  413: ["payload_too_large"],
  415: ["unsupported_media_type"],
  429: ["rate_limited", "otp_attempts_exceeded"],
  503: ["service_unavailable", "sms_unavailable"],
  500: ["internal_error"],
};

/** DESIGN.md, "gRPC API": gRPC code ↔ HTTP status. */
const GRPC_TO_HTTP: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
  [Code.NotFound]: 404,
  [Code.FailedPrecondition]: 400,
  [Code.ResourceExhausted]: 429,
  [Code.Unavailable]: 503,
  [Code.Internal]: 500,
};

describe("the reason → HTTP status table", () => {
  it("has exactly DESIGN's status for every reason", () => {
    const expected = Object.fromEntries(Object.entries(DESIGN_TABLE).flatMap(([status, reasons]) => reasons.map((r) => [r, Number(status)])));
    expect(HTTP_STATUS_OF_REASON).toEqual(expected);
    expect(Object.keys(HTTP_STATUS_OF_REASON).sort()).toEqual([...REASONS, ...HTTP_REASONS].sort());
  });

  it("agrees with the gRPC code of each reason, for the reasons the services raise", () => {
    const transportOnly = new Set(["method_not_allowed", "payload_too_large", "unsupported_media_type"]);
    for (const reason of REASONS) {
      if (transportOnly.has(reason)) continue;
      expect([reason, GRPC_TO_HTTP[GRPC_CODE_OF_REASON[reason]]]).toEqual([reason, HTTP_STATUS_OF_REASON[reason]]);
    }
  });
});

describe("errors across the RPC boundary", () => {
  it("turns a refusal into a ConnectError with its gRPC code, a localized message and an ErrorInfo, and back", () => {
    const error = toConnectError(new AppError("rate_limited", "internal detail", { retryAfterSeconds: 42 }), "en");
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toBe("Too many requests. Please try again later.");
    expect(error.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: "rate_limited", domain: "identity.v1", metadata: { retry_after: "42" } });
    expect(error.metadata.get("retry-after")).toBe("42");
    expect(refusalOf(error)).toEqual({ reason: "rate_limited", retryAfterSeconds: 42, field: undefined });
  });

  it("keeps the field of a validation error", () => {
    const error = toConnectError(new AppError("validation_error", "code is required", { field: "code" }), "fa");
    expect(refusalOf(error)).toMatchObject({ reason: "validation_error", field: "code" });
  });

  it("reports a store failure as service_unavailable and a bug as internal_error, saying nothing of either", () => {
    const down = toConnectError(new UnavailableError("cache", "redis at 10.0.0.5 refused"), "en");
    expect([down.code, refusalOf(down)?.reason]).toEqual([Code.Unavailable, "service_unavailable"]);
    const bug = toConnectError(new TypeError("x is undefined"), "en");
    expect([bug.code, refusalOf(bug)?.reason, bug.rawMessage]).toEqual([Code.Internal, "internal_error", "An internal error occurred."]);
  });

  it("reads an upstream without a detail by its code: unreachable is service_unavailable", () => {
    expect(refusalOf(new ConnectError("connect ECONNREFUSED", Code.Unavailable))?.reason).toBe("service_unavailable");
    expect(refusalOf(new ConnectError("deadline", Code.DeadlineExceeded))?.reason).toBe("service_unavailable");
    expect(refusalOf(new ConnectError("?", Code.Unknown))?.reason).toBe("internal_error");
    expect(refusalOf(new Error("not an RPC error"))).toBeUndefined();
  });

  it("answers Connect callers with only the metadata meant for them", () => {
    const upstream = toConnectError(new AppError("rate_limited", undefined, { retryAfterSeconds: 5 }), "en");
    upstream.metadata.set("content-type", "application/grpc");
    upstream.metadata.set("x-envoy", "1");
    const reply = toReplyError(upstream, "en");
    expect([...reply.metadata.keys()]).toEqual(["retry-after"]);
    expect(refusalOf(reply)).toMatchObject({ reason: "rate_limited", retryAfterSeconds: 5 });
  });

  it("answers Connect callers a generic refusal for a transport failure, never its message", () => {
    const reply = toReplyError(new ConnectError("connect ECONNREFUSED 10.0.4.7:50051", Code.Unavailable), "en");
    expect(reply.code).toBe(Code.Unavailable);
    expect(reply.rawMessage).toBe("The service is temporarily unavailable. Please try again shortly.");
    expect(refusalOf(reply)?.reason).toBe("service_unavailable");
  });
});

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("the call succeeded");
}

describe("the in-process transport", () => {
  it("hands the request message itself to the handler, with a CallContext from the headers and the client IP", async () => {
    const request = create(SendOtpRequestSchema, { phone: "09120000000", purpose: 1 });
    let seen: { request: unknown; ctx: CallContext } | undefined;
    const transport = createInProcessTransport(
      [
        {
          descriptor: AuthService,
          handlers: {
            sendOtp: async (req: never, ctx: CallContext) => {
              seen = { request: req, ctx };
              ctx.setResponseHeader("x-authenticated", "true");
              return { expiresIn: 120, resendAfter: 60, codeLength: 6 };
            },
          },
        },
      ],
      "fa",
    );
    let header: Headers | undefined;
    const response = await createClient(AuthService, transport).sendOtp(request, {
      headers: { authorization: "Bearer t", "accept-language": "en" },
      contextValues: callValues("203.0.113.9", "Mozilla/5.0 (X11; Linux x86_64)"),
      onHeader: (h) => (header = h),
    });
    expect(seen?.request).toBe(request);
    expect(seen?.ctx.header("authorization")).toBe("Bearer t");
    expect(seen?.ctx.header("x-missing")).toBeUndefined();
    expect(seen?.ctx.values.get(clientIpKey)).toBe("203.0.113.9");
    expect(seen?.ctx.values.get(clientUserAgentKey)).toBe("Mozilla/5.0 (X11; Linux x86_64)");
    expect(response.expiresIn).toBe(120);
    expect(header?.get("x-authenticated")).toBe("true");
  });

  it("throws the ConnectError a remote server would have sent, in the caller's language", async () => {
    const transport = createInProcessTransport(
      [{ descriptor: AuthService, handlers: { getProfile: () => Promise.reject(new AppError("not_authenticated")) } }],
      "fa",
    );
    const client = createClient(AuthService, transport);
    const error = await failure(client.getProfile({}, { headers: { "accept-language": "en" } }));
    expect(error).toMatchObject({ code: Code.Unauthenticated, rawMessage: "Authentication credentials were not provided." });
    expect(refusalOf(error)?.reason).toBe("not_authenticated");
    const unserved = await failure(client.logout({ refresh: "x" }));
    expect(unserved.code).toBe(Code.Unimplemented);
  });
});

describe("request bodies and paths", () => {
  it("types fields: required strings present, optional ones absent or strings, unknown ones ignored", () => {
    expect(fields({ phone: "1", extra: 2 }, { phone: "string", first_name: "string?" })).toEqual({ phone: "1" });
    expect(() => fields({}, { phone: "string" })).toThrow(expect.objectContaining({ reason: "validation_error", field: "phone" }));
    expect(() => fields({ first_name: null }, { first_name: "string?" })).toThrow(expect.objectContaining({ field: "first_name" }));
    expect(() => fields(JSON.parse('{"__proto__": {"phone": "x"}}') as Record<string, unknown>, { phone: "string" })).toThrow();
  });

  it("makes trailing slashes optional and ignores the query string", () => {
    expect(normalizePath("/api/login/")).toBe("/api/login");
    expect(normalizePath("/api/login//?next=/x")).toBe("/api/login");
    expect(normalizePath("/")).toBe("/");
    expect(normalizePath("/?a=1")).toBe("/");
    expect(normalizePath(undefined)).toBe("/");
  });
});
