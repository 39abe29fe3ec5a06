import { describe, expect, it } from "vitest";
import { normalizePhone, phonePrefixOf, requestedPhone, type PhonePolicy } from "../../src/core/phone.js";
import { coreLab } from "./support/core-deps.js";

const IRAN: PhonePolicy = { phoneDefaultRegion: "IR", phoneAllowedRegions: undefined };
const IRAN_ONLY: PhonePolicy = { phoneDefaultRegion: "IR", phoneAllowedRegions: new Set(["IR"]) };
const E164 = "+989121234567";

const refusal = (message = "invalid_phone") => expect.objectContaining({ name: "AppError", reason: "invalid_phone", message });

describe("normalizePhone", () => {
  it("reads every common way of writing one mobile number as one E.164 number", () => {
    for (const input of [
      "+989121234567",
      "00989121234567",
      "09121234567",
      "9121234567",
      "0912 123 4567",
      "0912-123-4567",
      "(0912) 123-4567",
      "+98 (912) 123 45 67",
      "  09121234567\t",
      "۰۹۱۲۱۲۳۴۵۶۷",
      "٠٩١٢١٢٣٤٥٦٧",
      "+۹۸ ۹۱۲ ۱۲۳ ۴۵۶۷",
    ]) {
      expect(normalizePhone(input, IRAN)).toBe(E164);
    }
  });

  it("refuses what is not a valid number", () => {
    for (const input of ["", "0912", "09121234567890", "hello", "+98", "+", "0912123456a"]) {
      expect(() => normalizePhone(input, IRAN)).toThrow(refusal());
    }
  });

  it("refuses input longer than 64 characters before parsing it", () => {
    const padded = (length: number) => E164.padStart(length, " ");
    expect(normalizePhone(padded(64), IRAN)).toBe(E164);
    expect(() => normalizePhone(padded(65), IRAN)).toThrow(refusal());
  });

  it("refuses numbers that cannot receive an SMS: landlines, toll-free, premium", () => {
    for (const input of ["02112345678", "+982112345678"]) expect(() => normalizePhone(input, IRAN)).toThrow(refusal("not a mobile number"));
    for (const input of ["+18005550100", "+80012345678", "+979123456789"]) expect(() => normalizePhone(input, IRAN)).toThrow(refusal("not a mobile number"));
  });

  it("takes mobile numbers of every region, and numbers that may be mobile, when no region list is set", () => {
    expect(normalizePhone("+447400123456", IRAN)).toBe("+447400123456");
    expect(normalizePhone("+1 201 555 0123", IRAN)).toBe("+12015550123");
    expect(normalizePhone("+881612345678", IRAN)).toBe("+881612345678");
  });

  it("reads numbers written without + in the default region", () => {
    const us: PhonePolicy = { phoneDefaultRegion: "US", phoneAllowedRegions: undefined };
    expect(normalizePhone("(201) 555-0123", us)).toBe("+12015550123");
    expect(() => normalizePhone("09121234567", us)).toThrow(refusal());
    expect(normalizePhone("+989121234567", us)).toBe(E164);
  });

  it("takes only the allowed regions' numbers when a list is set, never a number of no region", () => {
    expect(normalizePhone("09121234567", IRAN_ONLY)).toBe(E164);
    for (const input of ["+447400123456", "+12015550123", "+881612345678"]) {
      expect(() => normalizePhone(input, IRAN_ONLY)).toThrow(refusal("region not allowed"));
    }
    const both: PhonePolicy = { phoneDefaultRegion: "IR", phoneAllowedRegions: new Set(["IR", "GB"]) };
    expect(normalizePhone("+447400123456", both)).toBe("+447400123456");
  });
});

describe("requestedPhone", () => {
  it("requires the phone, then normalizes it under the configured policy", async () => {
    const { config } = await coreLab({ env: { PHONE_DEFAULT_REGION: "GB", PHONE_ALLOWED_REGIONS: "GB,IR" } });
    expect(() => requestedPhone(config, "")).toThrow(expect.objectContaining({ reason: "validation_error", field: "phone", message: "phone is required" }));
    expect(requestedPhone(config, "07400 123456")).toBe("+447400123456");
    expect(requestedPhone(config, "+98 912 123 4567")).toBe(E164);
    expect(() => requestedPhone(config, "+12015550123")).toThrow(refusal("region not allowed"));
  });
});

describe("phonePrefixOf", () => {
  const iran = { phoneDefaultRegion: "IR" };

  it("reads the beginning of a number as people type it: with or without +, 00, or the national 0", () => {
    for (const typed of ["+98912", "98912", "0098912", "0912", "۰۹۱۲", "+98 912", "0912-"]) expect(phonePrefixOf(typed, iran)).toBe("+98912");
    expect(phonePrefixOf("+4474", iran)).toBe("+4474");
    expect(phonePrefixOf("0", iran)).toBe("+98");
    expect(phonePrefixOf("00", iran)).toBe("+");
    expect(phonePrefixOf("0151", { phoneDefaultRegion: "DE" })).toBe("+49151");
  });

  it("is nothing for what is not digits", () => {
    for (const typed of ["", "+", "Sara", "09a12", "+98+912", "9.1"]) expect(phonePrefixOf(typed, iran)).toBeUndefined();
  });
});
