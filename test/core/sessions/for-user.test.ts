import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { startSessionForUser } from "../../../src/core/sessions/for-user.js";
import { getProfile } from "../../../src/core/users/profile.js";
import { coreLab } from "../support/core-deps.js";
import { callerOf, claimsOf, refusalOf, signUp } from "../support/signed-in.js";

const HOUR_MS = 3_600_000;

describe("startSessionForUser", () => {
  it("starts a new session of the user and answers its first token pair", async () => {
    const lab = await coreLab();
    const { user, tokens: first } = await signUp(lab);
    lab.clock.advance(60_000);
    const now = lab.clock.now();
    const tokens = await startSessionForUser(lab.deps, user.id);
    const access = claimsOf(tokens.access);
    expect(access).toMatchObject({ token_type: "access", sub: user.id, phone: user.phone, iat: now / 1000, exp: (now + HOUR_MS) / 1000 });
    expect(claimsOf(tokens.refresh)).toMatchObject({ token_type: "refresh", sid: access.sid });
    expect(access.sid).not.toBe(claimsOf(first.access).sid);
    expect(lab.stores.admin.liveRefreshJti(access.sid)).toBe(claimsOf(tokens.refresh).jti);
    await expect(callerOf(lab, tokens.access)).resolves.toMatchObject({ sessionId: access.sid });
  });

  it("moves last_login and announces it, so a held profile copy is dropped", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    const caller = await callerOf(lab, tokens.access);
    await getProfile(lab.deps, caller);
    const heard: (string | undefined)[] = [];
    lab.kv.onChange((key) => heard.push(key));
    lab.clock.advance(60_000);

    await startSessionForUser(lab.deps, user.id);
    expect(heard).toEqual([`{u:${user.id}}:p`]);
    expect((await getProfile(lab.deps, caller)).lastLogin).toEqual(new Date(lab.clock.now()));
  });

  it("refuses an id that is not a UUID as a validation error on the id", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    for (const id of ["", "not-a-uuid", `${user.id}0`, `x${user.id}`, user.id.replaceAll("-", ""), 42 as unknown as string]) {
      const error = await refusalOf(startSessionForUser(lab.deps, id));
      expect({ reason: error.reason, field: error.field }).toEqual({ reason: "validation_error", field: "id" });
    }
    expect(lab.stores.admin.counts().sessions).toBe(1);
  });

  it("refuses a value that is not a string even when it reads as a UUID (callers in JavaScript)", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    const lookalike = { toString: () => user.id } as unknown as string;
    const error = await refusalOf(startSessionForUser(lab.deps, lookalike));
    expect({ reason: error.reason, field: error.field }).toEqual({ reason: "validation_error", field: "id" });
  });

  it("refuses a user deactivated while the session was starting as not registered", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    const { users } = lab.stores;
    lab.deps.users = {
      ...users,
      async findById(id) {
        const found = await users.findById(id);
        lab.stores.admin.setActive(id, false);
        return found;
      },
    };
    expect((await refusalOf(startSessionForUser(lab.deps, user.id))).reason).toBe("phone_not_registered");
    expect(lab.stores.admin.counts().sessions).toBe(1);
  });

  it("refuses an unknown or inactive user as not registered", async () => {
    const lab = await coreLab();
    expect((await refusalOf(startSessionForUser(lab.deps, randomUUID()))).reason).toBe("phone_not_registered");
    const { user } = await signUp(lab);
    lab.stores.admin.setActive(user.id, false);
    expect((await refusalOf(startSessionForUser(lab.deps, user.id))).reason).toBe("phone_not_registered");
    expect(lab.stores.admin.counts().sessions).toBe(1);
  });
});
