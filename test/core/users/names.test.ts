import { describe, expect, it } from "vitest";
import { MAX_NAME_LENGTH, cleanName } from "../../../src/core/users/names.js";

const tooLong = (field: string) => expect.objectContaining({ name: "AppError", reason: "validation_error", field, message: `${field} must be at most 150 characters` });
const invisible = (field: string) => expect.objectContaining({ name: "AppError", reason: "validation_error", field, message: `${field} contains invisible or control characters` });

describe("cleanName", () => {
  it("trims the name and composes it (NFC)", () => {
    expect(cleanName("  Sara\t", "first_name")).toBe("Sara");
    expect(cleanName("Rene\u0301e", "first_name")).toBe("Ren\u00e9e");
    expect(cleanName("", "last_name")).toBe("");
    expect(cleanName("  ", "last_name")).toBe("");
  });

  it("takes up to 150 characters, counted as code points after composing and trimming", () => {
    expect(MAX_NAME_LENGTH).toBe(150);
    expect(cleanName("a".repeat(150), "first_name")).toHaveLength(150);
    expect(cleanName(`  ${"b".repeat(150)}  `, "first_name")).toBe("b".repeat(150));
    expect(cleanName("😀".repeat(150), "first_name")).toBe("😀".repeat(150));
    expect(cleanName("e\u0301".repeat(150), "first_name")).toBe("\u00e9".repeat(150));
    expect(() => cleanName("a".repeat(151), "first_name")).toThrow(tooLong("first_name"));
    expect(() => cleanName("😀".repeat(151), "last_name")).toThrow(tooLong("last_name"));
  });

  it("keeps Persian, Arabic and other scripts, and the Persian half-space between Arabic-script letters", () => {
    expect(cleanName("حسین‌زاده", "last_name")).toBe("حسین\u200Cزاده");
    expect(cleanName("می‌خواهم", "first_name")).toBe("می\u200Cخواهم");
    expect(cleanName("Zoë O'Brien-Łukasz 李", "first_name")).toBe("Zoë O'Brien-Łukasz 李");
  });

  it("refuses the zero-width non-joiner anywhere else", () => {
    for (const name of ["a\u200Cb", "حسین\u200C", "\u200Cحسین", "حسین\u200Cb", "a\u200Cزاده", "حسین\u200C\u200Cزاده"]) {
      expect(() => cleanName(name, "last_name")).toThrow(invisible("last_name"));
    }
  });

  it("refuses control, format, separator, private-use and broken characters", () => {
    for (const char of ["\u0000", "\u0007", "\u001B", "\u007F", "\u0085", "\u200B", "\u200D", "\u200E", "\u202E", "\u2066", "\uFEFF", "\u00AD", "\u{E0041}", "\u2028", "\u2029", "\uE000", "\u{F0000}", "\uD800", "\uDC00", "\uFFFD"]) {
      expect(() => cleanName(`Sa${char}ra`, "first_name")).toThrow(invisible("first_name"));
    }
  });
});
