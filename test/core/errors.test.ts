/**
 * The domain's reasons and its two error classes: a refusal the caller is told
 * about, and a store that did not answer.
 */
import { describe, expect, it } from "vitest";
import { AppError, isReason, REASONS, UnavailableError } from "../../src/core/errors.js";

describe("REASONS", () => {
  it("is the domain's list (not_found too: an unknown session or user), and no HTTP-only reason", () => {
    expect(REASONS).toEqual([
      "validation_error", "invalid_phone", "otp_invalid", "otp_expired", "phone_already_registered", "phone_not_registered",
      "not_authenticated", "token_not_valid", "token_expired", "token_wrong_type", "session_expired", "token_blacklisted",
      "session_revoked", "permission_denied", "account_disabled", "cannot_modify_self", "not_found", "rate_limited", "otp_attempts_exceeded", "service_unavailable", "sms_unavailable", "internal_error",
    ]);
  });

  it("isReason knows exactly those", () => {
    for (const reason of REASONS) expect(isReason(reason)).toBe(true);
    for (const other of ["", "invalid_json", "method_not_allowed", "TOKEN_NOT_VALID", "token_not_valid "]) expect(isReason(other)).toBe(false);
  });
});

describe("AppError", () => {
  it("carries its reason, and the reason as message when no detail is given", () => {
    const error = new AppError("token_expired");
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: "AppError", reason: "token_expired", message: "token_expired", retryAfterSeconds: undefined, field: undefined });
    expect(error.cause).toBeUndefined();
    expect("cause" in error).toBe(false);
  });

  it("carries detail, retryAfterSeconds, field and cause", () => {
    const cause = new Error("underneath");
    const error = new AppError("rate_limited", "too many codes", { retryAfterSeconds: 42, field: "phone", cause });
    expect(error).toMatchObject({ name: "AppError", reason: "rate_limited", message: "too many codes", retryAfterSeconds: 42, field: "phone" });
    expect(error.cause).toBe(cause);
  });
});

describe("UnavailableError", () => {
  it("names the dependency that did not answer", () => {
    const cause = new Error("ECONNREFUSED");
    const error = new UnavailableError("cache", "redis did not answer", { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(AppError);
    expect(error).toMatchObject({ name: "UnavailableError", dependency: "cache", message: "redis did not answer" });
    expect(error.cause).toBe(cause);
    expect(new UnavailableError("sms", "provider down")).toMatchObject({ dependency: "sms", message: "provider down" });
  });
});
