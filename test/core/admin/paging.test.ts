import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { pageOf, pageSize, pageTokenKey, readPageToken, writePageToken } from "../../../src/core/admin/paging.js";
import { AppError } from "../../../src/core/errors.js";

const key = pageTokenKey(randomBytes(32));
const FILTERS = { namePart: "sara" };
const POSITION = { d: "1767268800000123", i: "2b1c1a34-3f5e-4a7e-9c1d-0a9f2e6b7c80" };

function refusedField(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).reason).toBe("validation_error");
    return (error as AppError).field;
  }
  throw new Error("expected a refusal");
}

describe("pageSize", () => {
  it("is 50 when unset, the size asked for from 1 to 500, and refused otherwise naming page_size", () => {
    expect([pageSize(0), pageSize(1), pageSize(500)]).toEqual([50, 1, 500]);
    for (const size of [-1, 501, 1.5, Number.NaN, 2 ** 60]) expect(refusedField(() => pageSize(size))).toBe("page_size");
  });
});

describe("page tokens", () => {
  it("give back the position they were written with, for the same listing and filters", () => {
    const token = writePageToken(key, "users", FILTERS, POSITION);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(readPageToken(key, "users", { ...FILTERS }, token)).toEqual(POSITION);
    expect(readPageToken(key, "users", FILTERS, "")).toBeUndefined();
  });

  it("refuse another listing's, other filters', another key's, and any altered token, naming page_token", () => {
    const token = writePageToken(key, "users", FILTERS, POSITION);
    const [place = "", signature = ""] = token.split(".");
    const forged = Buffer.from(JSON.stringify({ ...POSITION, d: "0" })).toString("base64url");
    const lastSwapped = signature.slice(0, -1) + (signature.endsWith("A") ? "B" : "A");
    const refusals = [
      () => readPageToken(key, "audit", FILTERS, token),
      () => readPageToken(key, "users", { namePart: "sar" }, token),
      () => readPageToken(key, "users", {}, token),
      () => readPageToken(pageTokenKey(randomBytes(32)), "users", FILTERS, token),
      () => readPageToken(key, "users", FILTERS, `${forged}.${signature}`),
      () => readPageToken(key, "users", FILTERS, `${place}.${lastSwapped}`),
      () => readPageToken(key, "users", FILTERS, `${place}.${signature}!`),
      () => readPageToken(key, "users", FILTERS, `${place}=.${signature}`),
      () => readPageToken(key, "users", FILTERS, `${token}.${signature}`),
      () => readPageToken(key, "users", FILTERS, "garbage"),
      () => readPageToken(key, "users", FILTERS, "x".repeat(10_000)),
    ];
    for (const refusal of refusals) expect(refusedField(refusal)).toBe("page_token");
  });

  it("derive one key per digest key, and another for another", () => {
    const digestKey = randomBytes(32);
    expect(pageTokenKey(digestKey)).toBe(pageTokenKey(digestKey));
    expect(Buffer.from(pageTokenKey(digestKey)).equals(digestKey)).toBe(false);
  });
});

describe("pageOf", () => {
  it("keeps `limit` rows and names the next page only when one more was read", () => {
    expect(pageOf([1, 2, 3], 2, (last) => `after:${last}`)).toEqual({ page: [1, 2], nextPageToken: "after:2" });
    expect(pageOf([1, 2], 2, (last) => `after:${last}`)).toEqual({ page: [1, 2], nextPageToken: "" });
    expect(pageOf([], 2, (last) => `after:${last}`)).toEqual({ page: [], nextPageToken: "" });
  });
});
