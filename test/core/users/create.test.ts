import { describe, expect, it } from "vitest";
import { checkNewUser, createUser } from "../../../src/core/users/create.js";
import { freshPhone } from "../../support/phones.js";
import { coreLab } from "../support/core-deps.js";
import { refusal, refusalOf, signIn, signUp } from "../support/signed-in.js";

const SYSTEM = { actor: { kind: "system" }, via: "cli" } as const;

/** The refusal of a check, as a promise's (so the shared helper reads it). */
const checked = (check: () => unknown): Promise<unknown> => Promise.resolve().then(check);

describe("checkNewUser", () => {
  it("normalizes the phone as send-otp does and cleans the names as registration does", async () => {
    const { config } = await coreLab();
    const phone = freshPhone();
    const spaced = `${phone.local.slice(0, 4)} ${phone.local.slice(4, 7)} ${phone.local.slice(7)}`;
    expect(checkNewUser(config, { phone: spaced, firstName: "  Sara ", lastName: "Ahmadi", isStaff: true })).toEqual({
      phone: phone.e164,
      firstName: "Sara",
      lastName: "Ahmadi",
      isStaff: true,
    });
    expect(checkNewUser(config, { phone: phone.e164, firstName: "", lastName: "", isStaff: false })).toMatchObject({ phone: phone.e164, isStaff: false });
  });

  it("refuses an invalid or missing phone and a name that is not text, naming the field", async () => {
    const { config } = await coreLab();
    expect(await refusal(checked(() => checkNewUser(config, { phone: "12345", firstName: "", lastName: "", isStaff: false })))).toBe("invalid_phone");
    expect(await refusalOf(checked(() => checkNewUser(config, { phone: "", firstName: "", lastName: "", isStaff: false })))).toMatchObject({ reason: "validation_error", field: "phone" });
    expect(await refusalOf(checked(() => checkNewUser(config, { phone: freshPhone().e164, firstName: "a\u202Eb", lastName: "", isStaff: false })))).toMatchObject({
      reason: "validation_error",
      field: "first_name",
    });
    expect(await refusalOf(checked(() => checkNewUser(config, { phone: freshPhone().e164, firstName: "", lastName: "x".repeat(151), isStaff: false })))).toMatchObject({
      reason: "validation_error",
      field: "last_name",
    });
  });
});

describe("createUser", () => {
  it("creates an active user with no session, staff when asked, and records user.registered by the actor", async () => {
    const lab = await coreLab();
    const before = lab.stores.admin.counts();
    const phone = freshPhone().e164;
    const user = await createUser(lab.deps, { phone, firstName: "Sara", lastName: "Ahmadi", isStaff: true }, SYSTEM);
    expect(user).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      phone,
      firstName: "Sara",
      lastName: "Ahmadi",
      isStaff: true,
      isActive: true,
      dateJoined: new Date(lab.clock.now()),
      lastLogin: null,
    });
    expect(lab.stores.admin.counts()).toEqual({ ...before, users: before.users + 1 });
    expect(lab.stores.admin.auditEvents().at(-1)).toEqual({
      id: expect.any(String),
      at: new Date(lab.clock.now()),
      type: "user.registered",
      userId: user.id,
      sessionId: null,
      actor: "system",
      ip: null,
      userAgent: null,
      details: { via: "cli", is_staff: true },
    });
  });

  it("makes a user who can then log in like any other", async () => {
    const lab = await coreLab();
    const user = await createUser(lab.deps, { phone: freshPhone().e164, firstName: "", lastName: "", isStaff: false }, SYSTEM);
    const signedIn = await signIn(lab, user.phone);
    expect(signedIn.user).toMatchObject({ id: user.id, isStaff: false });
  });

  it("refuses a phone already registered, changing and recording nothing", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    const counts = lab.stores.admin.counts();
    const events = lab.stores.admin.auditEvents();
    expect(await refusal(createUser(lab.deps, { phone: user.phone, firstName: "Other", lastName: "", isStaff: true }, SYSTEM))).toBe("phone_already_registered");
    expect(lab.stores.admin.counts()).toEqual(counts);
    expect(lab.stores.admin.auditEvents()).toEqual(events);
    expect(await lab.stores.users.findByPhone(user.phone)).toEqual(user);
  });
});
