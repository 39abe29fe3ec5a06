import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { codeDigest } from "../../../src/core/otp/digest.js";

const KEY = new Uint8Array(32).fill(7);
const PHONE = "+989121234567";

describe("codeDigest", () => {
  it("is the base64url HMAC-SHA256 of purpose, phone and code, apart", () => {
    const expected = createHmac("sha256", KEY).update(["login", PHONE, "123456"].join("\0")).digest("base64url");
    expect(codeDigest(KEY, PHONE, "login", "123456")).toBe(expected);
    expect(expected).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("differs for another key, phone, purpose or code", () => {
    const digest = codeDigest(KEY, PHONE, "login", "123456");
    expect(codeDigest(new Uint8Array(32).fill(8), PHONE, "login", "123456")).not.toBe(digest);
    expect(codeDigest(KEY, "+989121234568", "login", "123456")).not.toBe(digest);
    expect(codeDigest(KEY, PHONE, "register", "123456")).not.toBe(digest);
    expect(codeDigest(KEY, PHONE, "login", "123457")).not.toBe(digest);
  });

  it("does not contain the code", () => {
    expect(codeDigest(KEY, PHONE, "login", "123456")).not.toContain("123456");
  });
});
