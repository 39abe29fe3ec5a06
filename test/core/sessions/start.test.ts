import { describe, expect, it } from "vitest";
import { refreshExpiry, startSession } from "../../../src/core/sessions/start.js";
import { getProfile } from "../../../src/core/users/profile.js";
import { freshPhone } from "../../support/phones.js";
import { coreLab } from "../support/core-deps.js";
import { callerOf, capturedLogs, claimsOf, signIn, signUp, TEST_CLIENT } from "../support/signed-in.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

describe("startSession", () => {
  it("gives a new user a session and its first token pair: one sid, the user's claims, each lifetime", async () => {
    const lab = await coreLab();
    const now = lab.clock.now();
    const { user, tokens } = await signUp(lab, { firstName: "Sara", lastName: "Ahmadi" });
    const access = claimsOf(tokens.access);
    const refresh = claimsOf(tokens.refresh);

    expect(access).toMatchObject({ token_type: "access", sub: user.id, user_id: user.id, phone: user.phone, first_name: "Sara", last_name: "Ahmadi", is_staff: false });
    expect(refresh).toMatchObject({ token_type: "refresh", sub: user.id, user_id: user.id, phone: user.phone, first_name: "Sara", last_name: "Ahmadi", is_staff: false });
    expect(access.sid).toBe(refresh.sid);
    expect(access.jti).not.toBe(refresh.jti);
    expect(access.iat).toBe(now / 1000);
    expect(refresh.iat).toBe(now / 1000);
    expect(access.exp).toBe((now + HOUR_MS) / 1000);
    expect(refresh.exp).toBe((now + 7 * DAY_MS) / 1000);
    expect(tokens.accessExpiresAt).toEqual(new Date(now + HOUR_MS));
    expect(tokens.refreshExpiresAt).toEqual(new Date(now + 7 * DAY_MS));
    // The refresh token issued is the session's one live refresh token.
    expect(lab.stores.admin.liveRefreshJti(refresh.sid)).toBe(refresh.jti);
    expect(lab.stores.admin.counts()).toEqual({ users: 1, sessions: 1, tokens: 1, blacklisted: 0 });
    expect(user).toMatchObject({ isActive: true, isStaff: false, dateJoined: new Date(now), lastLogin: new Date(now) });
  });

  it("starts the session when it is issued: it is live, and ends SESSION_MAX_LIFETIME later", async () => {
    const lab = await coreLab({ env: { SESSION_MAX_LIFETIME: "2h" } });
    const { user, tokens } = await signUp(lab);
    const sid = claimsOf(tokens.access).sid;
    const snapshot = await lab.stores.sessions.snapshot(sid);
    expect(snapshot).toMatchObject({ userId: user.id, createdAt: new Date(lab.clock.now()), expiresAt: new Date(lab.clock.now() + 2 * HOUR_MS), revoked: false });
    await expect(callerOf(lab, tokens.access)).resolves.toMatchObject({ sessionId: sid, user: { id: user.id } });
  });

  it("caps the first access token at the session's end", async () => {
    const lab = await coreLab({ env: { ACCESS_TOKEN_LIFETIME: "2h", SESSION_MAX_LIFETIME: "2h", REFRESH_TOKEN_LIFETIME: "3h" } });
    const now = lab.clock.now();
    const { tokens } = await signUp(lab);
    expect(claimsOf(tokens.access).exp).toBe((now + 2 * HOUR_MS) / 1000);
    expect(claimsOf(tokens.refresh).exp).toBe((now + 3 * HOUR_MS) / 1000);
  });

  it("starts another session for an existing user, with a fresh sid, and moves last_login", async () => {
    const lab = await coreLab();
    const first = await signUp(lab);
    lab.clock.advance(5_000);
    const second = await signIn(lab, first.user.phone);
    expect(second.user.id).toBe(first.user.id);
    expect(second.user.lastLogin).toEqual(new Date(lab.clock.now()));
    expect(second.user.dateJoined).toEqual(first.user.dateJoined);
    expect(claimsOf(second.tokens.access).sid).not.toBe(claimsOf(first.tokens.access).sid);
    expect(claimsOf(second.tokens.access).iat).toBe(lab.clock.now() / 1000);
    expect(lab.stores.admin.counts()).toMatchObject({ users: 1, sessions: 2, tokens: 2 });
  });

  it("announces an existing user's new last_login, so held profile copies are dropped", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    const caller = await callerOf(lab, tokens.access);
    expect((await getProfile(lab.deps, caller)).lastLogin).toEqual(new Date(lab.clock.now()));
    const heard: (string | undefined)[] = [];
    lab.kv.onChange((key) => heard.push(key));

    lab.clock.advance(60_000);
    await signIn(lab, user.phone);
    expect(heard).toEqual([`{u:${user.id}}:p`]);
    expect((await getProfile(lab.deps, caller)).lastLogin).toEqual(new Date(lab.clock.now()));
  });

  it("announces nothing for a new user: no copy of it can exist", async () => {
    const lab = await coreLab();
    const heard: (string | undefined)[] = [];
    lab.kv.onChange((key) => heard.push(key));
    await signUp(lab);
    expect(heard).toEqual([]);
  });

  it("still signs the user in when the announcement cannot be made (the session is committed)", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    lab.deps.kv = { ...lab.kv, announceChange: () => Promise.reject(new Error("pub/sub down")) };
    const logs = capturedLogs(lab);
    const again = await signIn(lab, user.phone);
    expect(again.user.lastLogin).toEqual(new Date(lab.clock.now()));
    expect(lab.stores.admin.counts().sessions).toBe(2);
    expect(logs).toEqual([{ level: 40, err: "Error: pub/sub down", msg: "profile change not announced" }]);
  });

  it("with UPDATE_LAST_LOGIN=false leaves last_login alone and announces nothing", async () => {
    const lab = await coreLab({ env: { UPDATE_LAST_LOGIN: "false" } });
    const { user } = await signUp(lab);
    expect(user.lastLogin).toBeNull();
    const heard: (string | undefined)[] = [];
    lab.kv.onChange((key) => heard.push(key));
    lab.clock.advance(1_000);
    const again = await signIn(lab, user.phone);
    expect(again.user.lastLogin).toBeNull();
    expect(heard).toEqual([]);
  });

  it("refuses (undefined) an unknown phone, an inactive user, and a new user whose phone is taken", async () => {
    const lab = await coreLab();
    expect(await startSession(lab.deps, { kind: "existing", phone: freshPhone().e164 }, TEST_CLIENT)).toBeUndefined();
    const { user } = await signUp(lab);
    expect(await startSession(lab.deps, { kind: "new", phone: user.phone, firstName: "Other", lastName: "Person" }, TEST_CLIENT)).toBeUndefined();
    lab.stores.admin.setActive(user.id, false);
    expect(await startSession(lab.deps, { kind: "existing", phone: user.phone }, TEST_CLIENT)).toBeUndefined();
    expect(lab.stores.admin.counts()).toMatchObject({ users: 1, sessions: 1 });
  });

  it("adds a deployment's extra claims to both tokens", async () => {
    const lab = await coreLab({ extraClaims: (user) => ({ tenant: `t-${user.phone.slice(-2)}` }) });
    const { user, tokens } = await signUp(lab);
    expect(claimsOf(tokens.access).tenant).toBe(`t-${user.phone.slice(-2)}`);
    expect(claimsOf(tokens.refresh).tenant).toBe(`t-${user.phone.slice(-2)}`);
  });
});

describe("refreshExpiry", () => {
  it("is REFRESH_TOKEN_LIFETIME from now", async () => {
    const { config } = await coreLab({ env: { REFRESH_TOKEN_LIFETIME: "3d" } });
    expect(refreshExpiry(config, 1_000)).toBe(1_000 + 3 * DAY_MS);
  });
});
