import { describe, expect, it } from "vitest";
import { sendOtp } from "../../../src/core/otp/send.js";
import { register } from "../../../src/core/users/register.js";
import { freshPhone, type Phone } from "../../support/phones.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { callerOf, claimsOf, refusal, refusalOf } from "../support/signed-in.js";

const IP = "203.0.113.1";

async function registerCode(lab: CoreLab, phone: Phone): Promise<string> {
  await sendOtp(lab.deps, { phone: phone.local, purpose: "register", client: { ip: IP, userAgent: null }, locale: "en" });
  return lab.sms.codeFor(phone.e164, "register");
}

describe("register", () => {
  it("creates the user of a verified registration code with a first session", async () => {
    const { deps, sms, clock } = await coreLab();
    await sendOtp(deps, { phone: "09121234567", purpose: "register", client: { ip: "203.0.113.1", userAgent: null }, locale: "en" });
    const code = sms.codeFor("+989121234567", "register");
    const { user, tokens } = await register(deps, { phone: "09121234567", code, firstName: " Sara ", lastName: "Ahmadi", client: { ip: "203.0.113.1", userAgent: null } });
    expect(user).toMatchObject({ phone: "+989121234567", firstName: "Sara", lastName: "Ahmadi", isStaff: false, isActive: true });
    expect(user.dateJoined.getTime()).toBe(clock.now());
    expect(tokens.access).toMatch(/^ey/);
  });

  it("issues the first session's tokens for the new user, and records the login", async () => {
    const lab = await coreLab();
    const phone = freshPhone();
    const code = await registerCode(lab, phone);
    const { user, tokens } = await register(lab.deps, { phone: phone.local, code, firstName: "Sara", lastName: " Ahmadi", client: { ip: IP, userAgent: null } });
    expect(user.lastLogin).toEqual(new Date(lab.clock.now()));
    expect(claimsOf(tokens.access)).toMatchObject({ sub: user.id, phone: phone.e164, first_name: "Sara", last_name: "Ahmadi" });
    await expect(callerOf(lab, tokens.access)).resolves.toMatchObject({ user: { id: user.id } });
    expect(lab.stores.admin.counts()).toMatchObject({ users: 1, sessions: 1, tokens: 1 });
  });

  it("leaves last_login empty under UPDATE_LAST_LOGIN=false", async () => {
    const lab = await coreLab({ env: { UPDATE_LAST_LOGIN: "false" } });
    const phone = freshPhone();
    const code = await registerCode(lab, phone);
    const { user } = await register(lab.deps, { phone: phone.local, code, firstName: "Sara", lastName: "Ahmadi", client: { ip: IP, userAgent: null } });
    expect(user.lastLogin).toBeNull();
  });

  it("refuses a bad name, naming its field, before the code is spent", async () => {
    const lab = await coreLab();
    const phone = freshPhone();
    const code = await registerCode(lab, phone);
    const first = await refusalOf(register(lab.deps, { phone: phone.local, code, firstName: "Sa\u202Era", lastName: "Ahmadi", client: { ip: IP, userAgent: null } }));
    expect({ reason: first.reason, field: first.field }).toEqual({ reason: "validation_error", field: "first_name" });
    const last = await refusalOf(register(lab.deps, { phone: phone.local, code, firstName: "Sara", lastName: "x".repeat(151), client: { ip: IP, userAgent: null } }));
    expect({ reason: last.reason, field: last.field }).toEqual({ reason: "validation_error", field: "last_name" });
    const missing = await refusalOf(register(lab.deps, { phone: phone.local, code: "", firstName: "Sara", lastName: "Ahmadi", client: { ip: IP, userAgent: null } }));
    expect({ reason: missing.reason, field: missing.field }).toEqual({ reason: "validation_error", field: "code" });
    expect(lab.stores.admin.counts().users).toBe(0);
    await expect(register(lab.deps, { phone: phone.local, code, firstName: "Sara", lastName: "Ahmadi", client: { ip: IP, userAgent: null } })).resolves.toBeDefined();
  });

  it("refuses a phone already registered, once its code is verified (ENUMERATION_PROTECTION)", async () => {
    const lab = await coreLab({ env: { ENUMERATION_PROTECTION: "true" } });
    const phone = freshPhone();
    await register(lab.deps, { phone: phone.local, code: await registerCode(lab, phone), firstName: "Sara", lastName: "Ahmadi", client: { ip: IP, userAgent: null } });
    lab.clock.advance(60_000);
    const code = await registerCode(lab, phone);
    expect(await refusal(register(lab.deps, { phone: phone.local, code, firstName: "Other", lastName: "Person", client: { ip: IP, userAgent: null } }))).toBe("phone_already_registered");
    expect(lab.stores.admin.counts()).toMatchObject({ users: 1, sessions: 1 });
  });
});
