import { describe, expect, it } from "vitest";
import { sendOtp } from "../../../src/core/otp/send.js";
import { login } from "../../../src/core/users/login.js";
import { getProfile } from "../../../src/core/users/profile.js";
import { freshPhone } from "../../support/phones.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { callerOf, claimsOf, refusal, refusalOf, signUp } from "../support/signed-in.js";

const IP = "203.0.113.7";

/** Sends a login code to `phone` (as typed) and returns it. */
async function loginCode(lab: CoreLab, phone: { local: string; e164: string }): Promise<string> {
  await sendOtp(lab.deps, { phone: phone.local, purpose: "login", client: { ip: IP, userAgent: null }, locale: "en" });
  return lab.sms.codeFor(phone.e164, "login");
}

/** A registered user's phone in both forms. */
function phoneOf(e164: string) {
  return { local: `0${e164.slice(3)}`, e164 };
}

describe("login", () => {
  it("starts a session for a registered phone, as typed, with a verified code", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    lab.clock.advance(60_000);
    const phone = phoneOf(user.phone);
    const code = await loginCode(lab, phone);

    const signedIn = await login(lab.deps, { phone: phone.local, code, client: { ip: IP, userAgent: null } });
    expect(signedIn.user).toMatchObject({ id: user.id, phone: user.phone, lastLogin: new Date(lab.clock.now()) });
    expect(claimsOf(signedIn.tokens.access)).toMatchObject({ sub: user.id, iat: lab.clock.now() / 1000 });
    await expect(callerOf(lab, signedIn.tokens.access)).resolves.toBeDefined();
    expect(lab.stores.admin.counts().sessions).toBe(2);
    // The code is spent.
    expect(await refusal(login(lab.deps, { phone: phone.local, code, client: { ip: IP, userAgent: null } }))).toBe("otp_expired");
  });

  it("announces the new last_login, so a held copy of the profile is dropped", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    const caller = await callerOf(lab, tokens.access);
    await getProfile(lab.deps, caller);
    lab.clock.advance(60_000);
    const phone = phoneOf(user.phone);
    await login(lab.deps, { phone: phone.local, code: await loginCode(lab, phone), client: { ip: IP, userAgent: null } });
    expect((await getProfile(lab.deps, caller)).lastLogin).toEqual(new Date(lab.clock.now()));
  });

  it("refuses a wrong code and starts no session", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    const phone = phoneOf(user.phone);
    const code = await loginCode(lab, phone);
    const wrong = code === "000000" ? "111111" : "000000";
    expect(await refusal(login(lab.deps, { phone: phone.local, code: wrong, client: { ip: IP, userAgent: null } }))).toBe("otp_invalid");
    expect(lab.stores.admin.counts().sessions).toBe(1);
  });

  it("refuses a missing code and a phone that is not a mobile number before checking any code", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    const phone = phoneOf(user.phone);
    const code = await loginCode(lab, phone);
    const missing = await refusalOf(login(lab.deps, { phone: phone.local, code: "", client: { ip: IP, userAgent: null } }));
    expect({ reason: missing.reason, field: missing.field }).toEqual({ reason: "validation_error", field: "code" });
    expect(await refusal(login(lab.deps, { phone: "12", code, client: { ip: IP, userAgent: null } }))).toBe("invalid_phone");
    await expect(login(lab.deps, { phone: phone.local, code, client: { ip: IP, userAgent: null } })).resolves.toBeDefined();
  });

  it("refuses a phone nobody registered, once its code is verified (ENUMERATION_PROTECTION)", async () => {
    const lab = await coreLab({ env: { ENUMERATION_PROTECTION: "true" } });
    const phone = freshPhone();
    const code = await loginCode(lab, phone);
    expect(await refusal(login(lab.deps, { phone: phone.local, code, client: { ip: IP, userAgent: null } }))).toBe("phone_not_registered");
    expect(lab.stores.admin.counts()).toMatchObject({ users: 0, sessions: 0 });
  });

  it("refuses a deactivated user with account_disabled before checking the code, which stays live", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    const phone = phoneOf(user.phone);
    const code = await loginCode(lab, phone);
    lab.stores.admin.setActive(user.id, false);
    const wrong = code === "000000" ? "111111" : "000000";
    for (const tried of [code, wrong]) expect(await refusal(login(lab.deps, { phone: phone.local, code: tried, client: { ip: IP, userAgent: null } }))).toBe("account_disabled");
    expect(lab.stores.admin.counts().sessions).toBe(1);
    // Nothing was checked: active again, the same code logs in.
    lab.stores.admin.setActive(user.id, true);
    await expect(login(lab.deps, { phone: phone.local, code, client: { ip: IP, userAgent: null } })).resolves.toBeDefined();
  });

  it("refuses a user deactivated while the code was being checked with account_disabled", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    const phone = phoneOf(user.phone);
    const code = await loginCode(lab, phone);
    const { kv } = lab.deps;
    lab.deps.kv = {
      ...kv,
      async checkCode(...args) {
        lab.stores.admin.setActive(user.id, false);
        return kv.checkCode(...args);
      },
    };
    expect(await refusal(login(lab.deps, { phone: phone.local, code, client: { ip: IP, userAgent: null } }))).toBe("account_disabled");
    expect(lab.stores.admin.counts().sessions).toBe(1);
  });

  it("reads the user once per login, refused code or not: the refused code's trail is about the user read before the check", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    const phone = phoneOf(user.phone);
    const { users } = lab.deps;
    let reads = 0;
    lab.deps.users = { ...users, findByPhone: (p) => (reads++, users.findByPhone(p)) };
    const code = await loginCode(lab, phone);
    reads = 0;
    const wrong = code === "000000" ? "111111" : "000000";
    expect(await refusal(login(lab.deps, { phone: phone.local, code: wrong, client: { ip: IP, userAgent: null } }))).toBe("otp_invalid");
    expect(reads).toBe(1);
    const events = await lab.deps.audit.list({ userId: user.id, types: ["user.login_failed"], limit: 10 });
    expect(events.map((e) => [e.type, e.details])).toEqual([["user.login_failed", { reason: "otp_invalid" }]]);
    await login(lab.deps, { phone: phone.local, code, client: { ip: IP, userAgent: null } });
    expect(reads).toBe(2);
  });

  it("tells a deactivated user only once the code is verified (ENUMERATION_PROTECTION), as an unknown phone is told", async () => {
    const lab = await coreLab({ env: { ENUMERATION_PROTECTION: "true" } });
    const { user } = await signUp(lab);
    const phone = phoneOf(user.phone);
    lab.stores.admin.setActive(user.id, false);
    const code = await loginCode(lab, phone);
    const wrong = code === "000000" ? "111111" : "000000";
    expect(await refusal(login(lab.deps, { phone: phone.local, code: wrong, client: { ip: IP, userAgent: null } }))).toBe("otp_invalid");
    expect(await refusal(login(lab.deps, { phone: phone.local, code, client: { ip: IP, userAgent: null } }))).toBe("account_disabled");
    // The code was checked, and spent.
    lab.stores.admin.setActive(user.id, true);
    expect(await refusal(login(lab.deps, { phone: phone.local, code, client: { ip: IP, userAgent: null } }))).toBe("otp_expired");
    expect(lab.stores.admin.counts().sessions).toBe(1);
  });
});
