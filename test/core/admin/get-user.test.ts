import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { getUser } from "../../../src/core/admin/get-user.js";
import { logout } from "../../../src/core/sessions/revoke.js";
import { coreLab } from "../support/core-deps.js";
import { refusal, refusalOf, signIn, signUp } from "../support/signed-in.js";

const HOUR_MS = 3_600_000;

describe("getUser", () => {
  it("answers the user with their live sessions: not the ended or expired ones", async () => {
    const lab = await coreLab({ env: { SESSION_MAX_LIFETIME: "2h" } });
    const first = await signUp(lab);
    lab.clock.advance(HOUR_MS);
    const second = await signIn(lab, first.user.phone);
    const third = await signIn(lab, first.user.phone);
    await logout(lab.deps, third.tokens.refresh);
    expect(await getUser(lab.deps, first.user.id)).toEqual({ user: second.user, liveSessions: 2 });
    // However the id is written.
    expect((await getUser(lab.deps, first.user.id.toUpperCase())).user.id).toBe(first.user.id);
    lab.clock.advance(HOUR_MS);
    expect((await getUser(lab.deps, first.user.id)).liveSessions).toBe(1);
  });

  it("answers not_found for an unknown id and validation_error naming id for a malformed one", async () => {
    const lab = await coreLab();
    expect(await refusal(getUser(lab.deps, randomUUID()))).toBe("not_found");
    for (const id of ["", "x", `${randomUUID()}0`, "'; DROP TABLE users; --"]) {
      const error = await refusalOf(getUser(lab.deps, id));
      expect({ reason: error.reason, field: error.field }).toEqual({ reason: "validation_error", field: "id" });
    }
  });
});
