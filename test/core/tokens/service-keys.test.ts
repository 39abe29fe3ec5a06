/**
 * SERVICE_API_KEYS: which service presents a key. None or an unknown key is
 * not_authenticated; with no keys configured (development only) anyone may ask, and
 * the log says so once.
 */
import { describe, expect, it } from "vitest";
import { AppError } from "../../../src/core/errors.js";
import { createServiceKeyCheck } from "../../../src/core/tokens/service-keys.js";
import { debugLog } from "../support/token-lab.js";

const KEYS = new Map([
  ["billing", "billing-key-0123456789"],
  ["search", "search-key-0123456789"],
]);

function refusedWith(check: () => unknown): { reason: string; message: string } {
  try {
    check();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return { reason: (error as AppError).reason, message: (error as AppError).message };
  }
  throw new Error("the key was accepted");
}

describe("createServiceKeyCheck", () => {
  it("names the service whose key is presented", () => {
    const check = createServiceKeyCheck(KEYS, debugLog().log);
    expect(check("billing-key-0123456789")).toBe("billing");
    expect(check("search-key-0123456789")).toBe("search");
  });

  it("refuses a missing key", () => {
    const check = createServiceKeyCheck(KEYS, debugLog().log);
    expect(refusedWith(() => check(undefined))).toEqual({ reason: "not_authenticated", message: "missing x-api-key" });
  });

  it.each([
    ["an empty key", ""],
    ["a prefix of a key", "billing-key-012345678"],
    ["a key with one more character", "billing-key-01234567890"],
    ["a key in another case", "BILLING-KEY-0123456789"],
    ["a service's name", "billing"],
    ["name:key", "billing:billing-key-0123456789"],
  ])("refuses %s as unknown", (_name, presented) => {
    const check = createServiceKeyCheck(KEYS, debugLog().log);
    expect(refusedWith(() => check(presented))).toEqual({ reason: "not_authenticated", message: "unknown x-api-key" });
  });

  it("is open with no keys configured, and warns once", () => {
    const { log, lines } = debugLog();
    const check = createServiceKeyCheck(new Map(), log);
    const warning = expect.objectContaining({ level: 40, msg: "SERVICE_API_KEYS is not set: Introspect is open to any caller (development only)" });
    expect(check(undefined)).toBe("development");
    expect(lines).toEqual([warning]);
    expect(check("anything")).toBe("development");
    expect(lines).toEqual([warning]);
  });

  it("says nothing in the log when keys are configured", () => {
    const { log, lines } = debugLog();
    const check = createServiceKeyCheck(KEYS, log);
    check("billing-key-0123456789");
    refusedWith(() => check("nope"));
    expect(lines).toEqual([]);
  });
});
