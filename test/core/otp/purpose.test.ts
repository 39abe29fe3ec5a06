import { describe, expect, it } from "vitest";
import { requestedPurpose } from "../../../src/core/otp/purpose.js";

describe("requestedPurpose", () => {
  it("takes register and login", () => {
    expect(requestedPurpose("register")).toBe("register");
    expect(requestedPurpose("login")).toBe("login");
  });

  it("refuses anything else as a validation_error on purpose", () => {
    for (const value of ["", "Login", "REGISTER", " login", "reset", "OTP_PURPOSE_LOGIN", "toString", "__proto__"]) {
      expect(() => requestedPurpose(value)).toThrow(expect.objectContaining({ reason: "validation_error", field: "purpose", message: "purpose must be register or login" }));
    }
  });
});
