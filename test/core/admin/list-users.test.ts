import { describe, expect, it } from "vitest";
import { listUsers, type ListUsersRequest } from "../../../src/core/admin/list-users.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { refusalOf, signUp } from "../support/signed-in.js";

const MINUTE_MS = 60_000;

function request(overrides: Partial<ListUsersRequest> = {}): ListUsersRequest {
  return { query: "", phone: "", pageSize: 0, pageToken: "", ...overrides };
}

/** Users who joined a minute apart, oldest first. */
async function joined(lab: CoreLab, names: [string, string][]) {
  const users = [];
  for (const [firstName, lastName] of names) {
    users.push((await signUp(lab, { firstName, lastName })).user);
    lab.clock.advance(MINUTE_MS);
  }
  return users;
}

describe("listUsers", () => {
  it("lists everyone newest first, with their live sessions, 50 a page unless asked", async () => {
    const lab = await coreLab();
    const users = await joined(lab, Array.from({ length: 52 }, (_, i): [string, string] => [`U${i}`, "X"]));
    const first = await listUsers(lab.deps, request());
    expect(first.users).toHaveLength(50);
    expect(first.users[0]).toEqual({ user: users.at(-1), liveSessions: 1 });
    const second = await listUsers(lab.deps, request({ pageToken: first.nextPageToken }));
    expect(second).toEqual({ users: [{ user: users[1], liveSessions: 1 }, { user: users[0], liveSessions: 1 }], nextPageToken: "" });
  });

  it("takes digits as a phone prefix and anything else as a part of a name", async () => {
    const lab = await coreLab();
    const [sara, mina] = await joined(lab, [["Sara", "Ahmadi"], ["Mina", "Rahimi"]]);
    const ids = async (query: string) => (await listUsers(lab.deps, request({ query }))).users.map((v) => v.user.id);
    expect(await ids(`0${sara!.phone.slice(3)}`)).toEqual([sara!.id]);
    expect(await ids(sara!.phone.slice(1))).toEqual([sara!.id]);
    expect(await ids("  HIM  ")).toEqual([mina!.id]);
    expect(await ids("+98")).toEqual([mina!.id, sara!.id]);
    expect(await ids("9123")).toEqual([]);
  });

  it("matches a phone exactly in any spelling, refusing one that is not a number with invalid_phone on phone", async () => {
    const lab = await coreLab();
    const [sara] = await joined(lab, [["Sara", "Ahmadi"], ["Mina", "Rahimi"]]);
    const listed = await listUsers(lab.deps, request({ phone: `0${sara!.phone.slice(3)}` }));
    expect(listed.users.map((v) => v.user.id)).toEqual([sara!.id]);
    const refused = await refusalOf(listUsers(lab.deps, request({ phone: "12" })));
    expect({ reason: refused.reason, field: refused.field }).toEqual({ reason: "invalid_phone", field: "phone" });
  });

  it("refuses a query longer than a name can be, a bad page size, and a token of another query", async () => {
    const lab = await coreLab();
    await joined(lab, [["Sara", "Ahmadi"], ["Sara", "Karimi"]]);
    const { nextPageToken } = await listUsers(lab.deps, request({ query: "sara", pageSize: 1 }));
    const cases: [Partial<ListUsersRequest>, string][] = [
      [{ query: "x".repeat(151) }, "query"],
      [{ pageSize: 501 }, "page_size"],
      [{ query: "Sara", pageSize: 1, pageToken: nextPageToken }, "page_token"],
      [{ pageToken: nextPageToken }, "page_token"],
    ];
    for (const [overrides, field] of cases) {
      const refused = await refusalOf(listUsers(lab.deps, request(overrides)));
      expect({ reason: refused.reason, field: refused.field }).toEqual({ reason: "validation_error", field });
    }
    // The same query, spelled the same after trimming: the token is good.
    expect((await listUsers(lab.deps, request({ query: " sara ", pageSize: 1, pageToken: nextPageToken }))).users).toHaveLength(1);
  });
});
