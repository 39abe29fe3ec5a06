import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { getUser } from "../../../src/core/admin/get-user.js";
import { updateUser } from "../../../src/core/admin/update-user.js";
import { UnavailableError } from "../../../src/core/errors.js";
import type { Actor } from "../../../src/core/ports/audit.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { getProfile } from "../../../src/core/users/profile.js";
import { userCacheKey } from "../../../src/store/liveness/keys.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { callerOf, refusal, refusalOf, signIn, signUp } from "../support/signed-in.js";

const CLIENT = { ip: "198.51.100.4", userAgent: "staff-console/1.0" };

/** A staff member (made staff by a service, as the first one is). */
async function staffMember(lab: CoreLab): Promise<Actor> {
  const { user } = await signUp(lab, { firstName: "Reza", lastName: "Karimi" });
  await updateUser(lab.deps, { kind: "system" }, user.id, { isStaff: true }, null);
  return { kind: "staff", id: user.id };
}

const adminEvents = (lab: CoreLab) => lab.stores.admin.auditEvents().filter((e) => e.type.startsWith("admin."));

describe("updateUser", () => {
  it("deactivating ends every session at once: access and refresh tokens are refused as revoked", async () => {
    const lab = await coreLab();
    const staff = await staffMember(lab);
    const one = await signUp(lab);
    const two = await signIn(lab, one.user.phone);
    // Known live to the cache first: the deactivation must overrule what it holds.
    for (const s of [one, two]) await callerOf(lab, s.tokens.access);
    lab.clock.advance(1_000);

    const view = await updateUser(lab.deps, staff, one.user.id, { isActive: false }, CLIENT);
    expect(view).toEqual({ user: { ...one.user, isActive: false }, liveSessions: 0 });
    for (const s of [one, two]) {
      expect(await refusal(callerOf(lab, s.tokens.access))).toBe("session_revoked");
      expect(await refusal(refreshSession(lab.deps, s.tokens.refresh))).toBe("session_revoked");
    }
    expect(await signInRefused(lab, one.user.phone)).toBe(true);
  });

  it("records admin.user_updated with the staff actor, the client and the new value", async () => {
    const lab = await coreLab();
    const staff = await staffMember(lab);
    const { user } = await signUp(lab);
    await updateUser(lab.deps, staff, user.id, { isActive: false }, CLIENT);
    expect(adminEvents(lab).at(-1)).toMatchObject({
      type: "admin.user_updated",
      userId: user.id,
      sessionId: null,
      actor: `staff:${staff.kind === "staff" ? staff.id : ""}`,
      ip: CLIENT.ip,
      userAgent: CLIENT.userAgent,
      details: { is_active: false },
      at: new Date(lab.clock.now()),
    });
  });

  it("reactivating lets the user log in again while the old sessions stay dead", async () => {
    const lab = await coreLab();
    const staff = await staffMember(lab);
    const old = await signUp(lab);
    await updateUser(lab.deps, staff, old.user.id, { isActive: false }, CLIENT);
    lab.clock.advance(1_000);
    const view = await updateUser(lab.deps, staff, old.user.id, { isActive: true }, CLIENT);
    expect(view).toEqual({ user: old.user, liveSessions: 0 });

    const fresh = await signIn(lab, old.user.phone);
    await expect(callerOf(lab, fresh.tokens.access)).resolves.toBeDefined();
    expect(await refusal(callerOf(lab, old.tokens.access))).toBe("session_revoked");
    expect(await refusal(refreshSession(lab.deps, old.tokens.refresh))).toBe("session_revoked");
    expect((await getUser(lab.deps, old.user.id)).liveSessions).toBe(1);
    expect(adminEvents(lab).at(-1)?.details).toEqual({ is_active: true });
  });

  it("reactivating overrules a cache that read the user as inactive meanwhile", async () => {
    const lab = await coreLab();
    const staff = await staffMember(lab);
    const old = await signUp(lab);
    await updateUser(lab.deps, staff, old.user.id, { isActive: false }, CLIENT);
    // The cache forgot the user (evicted, or Redis restarted), and a read-through
    // while they were inactive marked them so.
    await lab.kv.del(userCacheKey(old.user.id));
    expect(await refusal(callerOf(lab, old.tokens.access))).toBe("session_revoked");
    expect(await lab.kv.getMany([userCacheKey(old.user.id)])).toEqual(["X"]);

    await updateUser(lab.deps, staff, old.user.id, { isActive: true }, CLIENT);
    const fresh = await signIn(lab, old.user.phone);
    await expect(callerOf(lab, fresh.tokens.access)).resolves.toBeDefined();
    expect(await refusal(callerOf(lab, old.tokens.access))).toBe("session_revoked");
  });

  it("grants and takes staff without touching the sessions, and drops profile copies", async () => {
    const lab = await coreLab();
    const staff = await staffMember(lab);
    const { user, tokens } = await signUp(lab);
    const caller = await callerOf(lab, tokens.access);
    expect((await getProfile(lab.deps, caller)).isStaff).toBe(false);

    expect(await updateUser(lab.deps, staff, user.id, { isStaff: true }, CLIENT)).toEqual({ user: { ...user, isStaff: true }, liveSessions: 1 });
    expect((await getProfile(lab.deps, caller)).isStaff).toBe(true);
    expect(adminEvents(lab).at(-1)?.details).toEqual({ is_staff: true });
    await updateUser(lab.deps, staff, user.id, { isStaff: false, isActive: true }, CLIENT);
    expect((await getProfile(lab.deps, caller)).isStaff).toBe(false);
    expect(adminEvents(lab).at(-1)?.details).toEqual({ is_active: true, is_staff: false });
    await expect(callerOf(lab, tokens.access)).resolves.toBeDefined();
  });

  it("with no flag given answers the user unchanged and records nothing", async () => {
    const lab = await coreLab();
    const staff = await staffMember(lab);
    const { user } = await signUp(lab);
    const before = lab.stores.admin.auditEvents().length;
    expect(await updateUser(lab.deps, staff, user.id, {}, CLIENT)).toEqual({ user, liveSessions: 1 });
    expect(lab.stores.admin.auditEvents()).toHaveLength(before);
  });

  it("refuses staff changing their own active or staff flag with cannot_modify_self, changing nothing", async () => {
    const lab = await coreLab();
    const staff = await staffMember(lab);
    const id = staff.kind === "staff" ? staff.id : "";
    const before = await getUser(lab.deps, id);
    const events = lab.stores.admin.auditEvents().length;
    for (const changes of [{ isActive: false }, { isStaff: false }, { isStaff: true }]) {
      expect(await refusal(updateUser(lab.deps, staff, id, changes, CLIENT))).toBe("cannot_modify_self");
      // However the id is written.
      expect(await refusal(updateUser(lab.deps, staff, id.toUpperCase(), changes, CLIENT))).toBe("cannot_modify_self");
    }
    expect(await getUser(lab.deps, id)).toEqual(before);
    expect(lab.stores.admin.auditEvents()).toHaveLength(events);
  });

  it("lets a service or the system change anyone", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    await updateUser(lab.deps, { kind: "service", name: "support-desk" }, user.id, { isStaff: true }, null);
    expect(adminEvents(lab).at(-1)).toMatchObject({ actor: "service:support-desk", ip: null, userAgent: null });
  });

  it("answers not_found for an unknown id and validation_error for a malformed one, recording nothing", async () => {
    const lab = await coreLab();
    const staff = await staffMember(lab);
    const before = lab.stores.admin.auditEvents().length;
    expect(await refusal(updateUser(lab.deps, staff, randomUUID(), { isActive: false }, CLIENT))).toBe("not_found");
    const malformed = await refusalOf(updateUser(lab.deps, staff, "not-a-uuid", { isActive: false }, CLIENT));
    expect({ reason: malformed.reason, field: malformed.field }).toEqual({ reason: "validation_error", field: "id" });
    expect(lab.stores.admin.auditEvents()).toHaveLength(before);
  });

  it("changes nothing and records nothing when the store fails", async () => {
    const lab = await coreLab();
    const staff = await staffMember(lab);
    const { user, tokens } = await signUp(lab);
    const before = lab.stores.admin.auditEvents().length;
    const down = new UnavailableError("database", "connection refused");
    lab.deps.users = { ...lab.stores.users, updateFlags: () => Promise.reject(down) };
    await expect(updateUser(lab.deps, staff, user.id, { isStaff: true }, CLIENT)).rejects.toBe(down);
    lab.deps.users = lab.stores.users;
    expect((await getUser(lab.deps, user.id)).user.isStaff).toBe(false);
    expect(lab.stores.admin.auditEvents()).toHaveLength(before);
    await expect(callerOf(lab, tokens.access)).resolves.toBeDefined();
  });
});

/** Whether a new session for the phone is refused (the user is not active). */
async function signInRefused(lab: CoreLab, phone: string): Promise<boolean> {
  return signIn(lab, phone).then(
    () => false,
    () => true,
  );
}
