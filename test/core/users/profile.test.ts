import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Caller } from "../../../src/core/tokens/authenticate.js";
import { announceProfileChange, getProfile, updateProfile } from "../../../src/core/users/profile.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { callerOf, refusal, refusalOf, signUp } from "../support/signed-in.js";

async function signedUpCaller(lab: CoreLab): Promise<Caller> {
  const { tokens } = await signUp(lab, { firstName: "Sara", lastName: "Ahmadi" });
  return callerOf(lab, tokens.access);
}

/** Keys announced as changed, in order. */
function heard(lab: CoreLab): (string | undefined)[] {
  const keys: (string | undefined)[] = [];
  lab.kv.onChange((key) => keys.push(key));
  return keys;
}

describe("getProfile", () => {
  it("answers the caller's profile as stored", async () => {
    const lab = await coreLab();
    const caller = await signedUpCaller(lab);
    expect(await getProfile(lab.deps, caller)).toEqual(await lab.stores.users.findById(caller.user.id));
  });

  it("answers from the copy it holds until a change is announced", async () => {
    const lab = await coreLab();
    const caller = await signedUpCaller(lab);
    // Changes were heard before (another user's): a copy read since is still kept.
    await announceProfileChange(lab.deps, randomUUID());
    await getProfile(lab.deps, caller);
    // Changed behind its back, unannounced: the copy still answers.
    await lab.stores.users.updateNames(caller.user.id, { firstName: "Zahra" }, new Date(lab.clock.now()), { type: "user.profile_updated", client: null });
    expect((await getProfile(lab.deps, caller)).firstName).toBe("Sara");
    await announceProfileChange(lab.deps, caller.user.id);
    expect((await getProfile(lab.deps, caller)).firstName).toBe("Zahra");
  });

  it("does not keep a read that a change overtook", async () => {
    const lab = await coreLab();
    const caller = await signedUpCaller(lab);
    const { users } = lab.stores;
    let overtaken = false;
    lab.deps.users = {
      ...users,
      async findById(id) {
        const read = await users.findById(id);
        if (!overtaken) {
          overtaken = true;
          await updateProfile(lab.deps, caller, { firstName: "Zahra" });
        }
        return read;
      },
    };
    expect((await getProfile(lab.deps, caller)).firstName).toBe("Sara");
    expect((await getProfile(lab.deps, caller)).firstName).toBe("Zahra");
  });

  it("reads the store each time when no copies are held", async () => {
    const lab = await coreLab();
    lab.deps.localProfiles = undefined;
    const caller = await signedUpCaller(lab);
    await getProfile(lab.deps, caller);
    await lab.stores.users.updateNames(caller.user.id, { lastName: "Karimi" }, new Date(lab.clock.now()), { type: "user.profile_updated", client: null });
    expect((await getProfile(lab.deps, caller)).lastName).toBe("Karimi");
    await expect(updateProfile(lab.deps, caller, { firstName: "Zahra" })).resolves.toMatchObject({ firstName: "Zahra", lastName: "Karimi" });
  });

  it("refuses a caller whose user no longer exists as revoked", async () => {
    const lab = await coreLab();
    const caller = await signedUpCaller(lab);
    const ghost = { ...caller, user: { ...caller.user, id: randomUUID() } };
    expect(await refusal(getProfile(lab.deps, ghost))).toBe("session_revoked");
    expect(await refusal(updateProfile(lab.deps, ghost, { firstName: "Zahra" }))).toBe("session_revoked");
  });
});

describe("updateProfile", () => {
  it("changes only the names given, cleaned, and announces the change", async () => {
    const lab = await coreLab();
    const caller = await signedUpCaller(lab);
    await getProfile(lab.deps, caller);
    const keys = heard(lab);

    const updated = await updateProfile(lab.deps, caller, { firstName: "  Zahra ", lastName: undefined });
    expect(updated).toMatchObject({ id: caller.user.id, firstName: "Zahra", lastName: "Ahmadi" });
    expect(keys).toEqual([`{u:${caller.user.id}}:p`]);
    expect(await getProfile(lab.deps, caller)).toEqual(updated);

    const both = await updateProfile(lab.deps, caller, { lastName: "Karimi" });
    expect(both).toMatchObject({ firstName: "Zahra", lastName: "Karimi" });
    expect(await lab.stores.users.findById(caller.user.id)).toMatchObject({ firstName: "Zahra", lastName: "Karimi" });
  });

  it("normalizes names to NFC", async () => {
    const lab = await coreLab();
    const caller = await signedUpCaller(lab);
    const updated = await updateProfile(lab.deps, caller, { lastName: "Rene\u0301" });
    expect(updated.lastName).toBe("Ren\u00e9");
  });

  it("refuses a bad name, naming its field, and changes nothing", async () => {
    const lab = await coreLab();
    const caller = await signedUpCaller(lab);
    const keys = heard(lab);
    const bad = await refusalOf(updateProfile(lab.deps, caller, { firstName: "Zahra", lastName: "Ahm\u0000adi" }));
    expect({ reason: bad.reason, field: bad.field }).toEqual({ reason: "validation_error", field: "last_name" });
    const long = await refusalOf(updateProfile(lab.deps, caller, { firstName: "z".repeat(151) }));
    expect({ reason: long.reason, field: long.field }).toEqual({ reason: "validation_error", field: "first_name" });
    expect(await lab.stores.users.findById(caller.user.id)).toMatchObject({ firstName: "Sara", lastName: "Ahmadi" });
    expect(keys).toEqual([]);
    expect(lab.stores.admin.auditEvents().map((e) => e.type)).toEqual(["user.registered"]);
  });

  it("records user.profile_updated by the caller, from their client, naming the fields whose value changed; nothing when none did", async () => {
    const lab = await coreLab();
    const caller = await signedUpCaller(lab);
    const client = { ip: "198.51.100.20", userAgent: "Profile/1.0" };
    lab.clock.advance(1000);
    await updateProfile(lab.deps, caller, { firstName: "Zahra", lastName: " Ahmadi " }, client);
    lab.clock.advance(1000);
    await updateProfile(lab.deps, caller, { firstName: "Zahra" }, client);
    await updateProfile(lab.deps, caller, {}, client);
    await updateProfile(lab.deps, caller, { firstName: "Mina", lastName: "Karimi" }, client);

    const events = lab.stores.admin.auditEvents().filter((e) => e.type === "user.profile_updated");
    const about = { userId: caller.user.id, sessionId: null, actor: `user:${caller.user.id}`, ip: client.ip, userAgent: client.userAgent };
    expect(events).toEqual([
      { ...about, id: expect.any(String), type: "user.profile_updated", at: new Date(lab.clock.now() - 1000), details: { fields: ["first_name"] } },
      { ...about, id: expect.any(String), type: "user.profile_updated", at: new Date(lab.clock.now()), details: { fields: ["first_name", "last_name"] } },
    ]);
  });
});
