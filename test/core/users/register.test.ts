import { describe, expect, it } from "vitest";
import { sendOtp } from "../../../src/core/otp/send.js";
import { register } from "../../../src/core/users/register.js";
import { coreLab } from "../support/core-deps.js";

describe("register", () => {
  it("creates the user of a verified registration code with a first session", async () => {
    const { deps, sms, clock } = await coreLab();
    await sendOtp(deps, { phone: "09121234567", purpose: "register", clientIp: "203.0.113.1", locale: "en" });
    const code = sms.codeFor("+989121234567", "register");
    const { user, tokens } = await register(deps, { phone: "09121234567", code, firstName: " Sara ", lastName: "Ahmadi", clientIp: "203.0.113.1" });
    expect(user).toMatchObject({ phone: "+989121234567", firstName: "Sara", lastName: "Ahmadi", isStaff: false, isActive: true });
    expect(user.dateJoined.getTime()).toBe(clock.now());
    expect(tokens.access).toMatch(/^ey/);
  });
});
