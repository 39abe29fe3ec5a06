import { describe, expect, it } from "vitest";
import { serviceActor, staffActor } from "../../../src/core/admin/authority.js";
import { updateUser } from "../../../src/core/admin/update-user.js";
import { coreLab } from "../support/core-deps.js";
import { callerOf, refusal, signUp } from "../support/signed-in.js";

const KEYS = { SERVICE_API_KEYS: "desk:desk-0123456789abcdef:admin,billing:billing-0123456789abcdef" };

describe("staffActor", () => {
  it("is the caller as staff while the store says they are active staff, whatever their token says", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    const caller = await callerOf(lab, tokens.access);
    expect(await refusal(staffActor(lab.deps, caller))).toBe("permission_denied");
    await updateUser(lab.deps, { kind: "system" }, user.id, { isStaff: true }, null);
    expect(caller.user.is_staff).toBe(false);
    expect(await staffActor(lab.deps, caller)).toEqual({ kind: "staff", id: user.id });
    await updateUser(lab.deps, { kind: "system" }, user.id, { isStaff: false }, null);
    expect(await refusal(staffActor(lab.deps, caller))).toBe("permission_denied");
  });

  it("refuses staff that are no longer active", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    const caller = await callerOf(lab, tokens.access);
    await updateUser(lab.deps, { kind: "system" }, user.id, { isStaff: true }, null);
    lab.stores.admin.setActive(user.id, false);
    expect(await refusal(staffActor(lab.deps, caller))).toBe("permission_denied");
  });
});

describe("serviceActor", () => {
  it("is the service of an admin-scoped key; a plain key is permission_denied, an unknown one not_authenticated", async () => {
    const lab = await coreLab({ env: KEYS });
    expect(serviceActor(lab.deps, "desk-0123456789abcdef")).toEqual({ kind: "service", name: "desk" });
    expect(await refusal(Promise.resolve().then(() => serviceActor(lab.deps, "billing-0123456789abcdef")))).toBe("permission_denied");
    expect(await refusal(Promise.resolve().then(() => serviceActor(lab.deps, "nobody-0123456789abcdef")))).toBe("not_authenticated");
  });

  it("never lets a key in while no keys are configured (Introspect's development opening is not for staff)", async () => {
    const lab = await coreLab();
    expect(await refusal(Promise.resolve().then(() => serviceActor(lab.deps, "anything")))).toBe("permission_denied");
  });
});
