import { describe, expect, it } from "vitest";
import { required } from "../../src/core/required.js";

describe("required", () => {
  it("returns a value that is there, as it is", () => {
    expect(required(" x ", "code")).toBe(" x ");
  });

  it("refuses an empty value as a validation_error naming the field", () => {
    expect(() => required("", "code")).toThrow(expect.objectContaining({ name: "AppError", reason: "validation_error", field: "code", message: "code is required" }));
  });
});
