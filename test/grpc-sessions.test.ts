/**
 * Sessions a person can see and end, through a real gRPC client: ListSessions,
 * RevokeSession and LogoutOthers on real PostgreSQL + Redis and on the embedded
 * default; what a session records of its client; revocation refused at once, on
 * every instance.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, failure, freshStores, OtpPurpose, registerUser, startService, twoInstances, type Service, type StoreMode, type Stores, type TwoInstances } from "./support/grpc-harness.js";
import { freshPhone } from "./support/phones.js";
import { realStoresAvailable } from "./support/services.js";
import { frozenClock, jwtPayload, type MovableClock } from "./support/tools.js";

const modes: StoreMode[] = realStoresAvailable() ? ["real", "embedded"] : ["embedded"];
const MINUTE_MS = 60_000;
const LAPTOP_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
const PHONE_UA = "identity-app/2.0 (Android 14)";

/** The session id of a token. */
const sid = (token: string) => jwtPayload(token).sid as string;

/** Logs in to `service` as `phone`, the call carrying `userAgent` (and whatever else `headers` says). */
async function loginFrom(service: Service, phone: string, userAgent: string, headers: Record<string, string> = {}) {
  await service.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN });
  const response = await service.auth.login({ phone, code: service.sms.codeFor(phone, "login") }, { headers: { "user-agent": userAgent, ...headers } });
  return response.tokens!;
}

/** Registers a new phone on `service` from `userAgent`. */
async function registerFrom(service: Service, userAgent: string) {
  const phone = freshPhone().e164;
  await service.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
  const response = await service.auth.register({ phone, code: service.sms.codeFor(phone, "register"), firstName: "Sara", lastName: "Ahmadi" }, { headers: { "user-agent": userAgent } });
  return { phone, user: response.user!, tokens: response.tokens! };
}

describe.each(modes)("sessions over gRPC (%s stores)", (mode) => {
  let stores: Stores;
  let service: Service;
  let clock: MovableClock;

  beforeAll(async () => {
    stores = await freshStores(mode);
    clock = frozenClock();
    // Proxies are trusted, but not the test's own address: what it says it forwards is not believed.
    service = await startService(stores, { clock, env: { TRUSTED_PROXIES: "10.0.0.0/8" } });
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  const list = async (access: string) => (await service.auth.listSessions({}, bearer(access))).sessions;

  it("lists the caller's live sessions, most recently used first, each with its client, the calling one marked current", async () => {
    const laptop = await registerFrom(service, LAPTOP_UA);
    clock.advance(MINUTE_MS);
    const phone = await loginFrom(service, laptop.phone, PHONE_UA);

    const sessions = await list(laptop.tokens.access);
    expect(sessions.map((s) => ({ id: s.id, ip: s.ip, userAgent: s.userAgent, current: s.current }))).toEqual([
      { id: sid(phone.access), ip: "127.0.0.1", userAgent: PHONE_UA, current: false },
      { id: sid(laptop.tokens.access), ip: "127.0.0.1", userAgent: LAPTOP_UA, current: true },
    ]);
    for (const s of sessions) {
      expect(timestampMs(s.lastUsedAt!)).toBe(timestampMs(s.createdAt!));
      expect(timestampMs(s.expiresAt!) - timestampMs(s.createdAt!)).toBe(service.config.tokens.sessionMaxLifetimeMs);
    }
    expect((await list(phone.access)).map((s) => s.current)).toEqual([true, false]);
  });

  it("moves last_used_at, ip and user_agent at a refresh, and not at an access-token use", async () => {
    const laptop = await registerFrom(service, LAPTOP_UA);
    const [atLogin] = await list(laptop.tokens.access);
    clock.advance(MINUTE_MS);
    await service.auth.getProfile({}, { headers: { ...bearer(laptop.tokens.access).headers, "user-agent": PHONE_UA } });
    await service.token.verify({ token: laptop.tokens.access }, { headers: { "user-agent": PHONE_UA } });
    expect(await list(laptop.tokens.access)).toEqual([atLogin]);

    clock.advance(MINUTE_MS);
    const refreshed = (await service.token.refresh({ refresh: laptop.tokens.refresh }, { headers: { "user-agent": PHONE_UA } })).tokens!;
    const [afterRefresh] = await list(refreshed.access);
    expect(afterRefresh).toMatchObject({ id: atLogin!.id, userAgent: PHONE_UA, ip: "127.0.0.1", current: true });
    expect(timestampMs(afterRefresh!.lastUsedAt!) - timestampMs(atLogin!.lastUsedAt!)).toBe(2 * MINUTE_MS);
    expect(afterRefresh!.createdAt).toEqual(atLogin!.createdAt);
  });

  it("records the caller's own address and user-agent, not the x-forwarded-for and x-forwarded-user-agent of a caller that is no trusted proxy", async () => {
    const { phone } = await registerUser(service);
    const tokens = await loginFrom(service, phone, "curl/8.5", { "x-forwarded-for": "198.51.100.7", "x-forwarded-user-agent": "Forged/1.0" });
    expect((await list(tokens.access)).find((s) => s.current)).toMatchObject({ ip: "127.0.0.1", userAgent: "curl/8.5" });
  });

  it("ends another session of the caller: its access token is refused at once (Verify: session_revoked), its refresh token too", async () => {
    const laptop = await registerFrom(service, LAPTOP_UA);
    const phone = await loginFrom(service, laptop.phone, PHONE_UA);
    expect(await service.token.verify({ token: phone.access })).toMatchObject({ valid: true });

    expect(await service.auth.revokeSession({ sessionId: sid(phone.access) }, bearer(laptop.tokens.access))).toBeDefined();
    expect(await service.token.verify({ token: phone.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await failure(service.auth.getProfile({}, bearer(phone.access)))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    expect(await failure(service.token.refresh({ refresh: phone.refresh }))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    expect((await list(laptop.tokens.access)).map((s) => s.id)).toEqual([sid(laptop.tokens.access)]);
    expect(await service.token.verify({ token: laptop.tokens.access })).toMatchObject({ valid: true });
  });

  it("ends the caller's current session, as logout does", async () => {
    const { tokens } = await registerUser(service);
    await service.auth.revokeSession({ sessionId: sid(tokens.access) }, bearer(tokens.access));
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await failure(service.token.refresh({ refresh: tokens.refresh }))).toMatchObject({ reason: "session_revoked" });
  });

  it("answers an unknown id, another user's session and an ended one of the caller alike: NOT_FOUND not_found, ending nothing", async () => {
    const me = await registerUser(service);
    const stranger = await registerUser(service);
    const ended = await loginFrom(service, me.phone, PHONE_UA);
    await service.auth.logout({ refresh: ended.refresh });

    const answers = [];
    for (const id of ["AAAAAAAAAAAAAAAAAAAAAA", sid(stranger.tokens.access), sid(ended.access)]) {
      answers.push(await failure(service.auth.revokeSession({ sessionId: id }, { headers: { ...bearer(me.tokens.access).headers, "accept-language": "en" } })));
    }
    expect(answers).toEqual(Array(3).fill({ code: Code.NotFound, reason: "not_found", metadata: {}, message: "Not found." }));
    expect(await service.token.verify({ token: stranger.tokens.access })).toMatchObject({ valid: true });
    expect(await list(stranger.tokens.access)).toHaveLength(1);
  });

  it("refuses a malformed or missing session id with INVALID_ARGUMENT validation_error on session_id", async () => {
    const { tokens } = await registerUser(service);
    for (const id of ["", "not-a-session-id", `${sid(tokens.access)}x`, "AAAAAAAAAAAAAAAAAAAA=="]) {
      expect(await failure(service.auth.revokeSession({ sessionId: id }, bearer(tokens.access)))).toMatchObject({ code: Code.InvalidArgument, reason: "validation_error", metadata: { field: "session_id" } });
    }
    expect(await list(tokens.access)).toHaveLength(1);
  });

  it("ends every session but the current one with LogoutOthers, counting them", async () => {
    const laptop = await registerFrom(service, LAPTOP_UA);
    const others = [await loginFrom(service, laptop.phone, PHONE_UA), await loginFrom(service, laptop.phone, PHONE_UA)];
    expect((await service.auth.logoutOthers({}, bearer(laptop.tokens.access))).revoked).toBe(2);
    for (const other of others) {
      expect(await service.token.verify({ token: other.access })).toMatchObject({ valid: false, reason: "session_revoked" });
      expect(await failure(service.token.refresh({ refresh: other.refresh }))).toMatchObject({ reason: "session_revoked" });
    }
    expect(await list(laptop.tokens.access)).toMatchObject([{ id: sid(laptop.tokens.access), current: true }]);
    expect((await service.auth.logoutOthers({}, bearer(laptop.tokens.access))).revoked).toBe(0);
  });

  it("needs a Bearer token for all three: UNAUTHENTICATED not_authenticated", async () => {
    for (const call of [service.auth.listSessions({}), service.auth.revokeSession({ sessionId: "AAAAAAAAAAAAAAAAAAAAAA" }), service.auth.logoutOthers({})]) {
      expect(await failure(call)).toMatchObject({ code: Code.Unauthenticated, reason: "not_authenticated" });
    }
  });
});

describe.runIf(realStoresAvailable())("sessions ended on one instance, refused at once on another", () => {
  let pair: TwoInstances;
  beforeAll(async () => {
    pair = await twoInstances();
  });
  afterAll(async () => {
    await pair?.close();
  });

  it("refuses on B, at once, a session RevokeSession ended on A, though B had just found it live", async () => {
    const { a, b } = pair;
    const laptop = await registerUser(a);
    const phone = await loginFrom(b, laptop.phone, PHONE_UA);
    expect(await b.token.verify({ token: phone.access })).toMatchObject({ valid: true });
    expect((await b.auth.getProfile({}, bearer(phone.access))).user).toBeDefined();

    await a.auth.revokeSession({ sessionId: sid(phone.access) }, bearer(laptop.tokens.access));
    expect(await b.token.verify({ token: phone.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await failure(b.auth.getProfile({}, bearer(phone.access)))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    expect(await failure(b.token.refresh({ refresh: phone.refresh }))).toMatchObject({ reason: "session_revoked" });
  });

  it("refuses on A, at once, the sessions LogoutOthers ended on B, and keeps the caller's", async () => {
    const { a, b } = pair;
    const laptop = await registerUser(a);
    const phone = await loginFrom(a, laptop.phone, PHONE_UA);
    expect(await a.token.verify({ token: phone.access })).toMatchObject({ valid: true });

    expect((await b.auth.logoutOthers({}, bearer(laptop.tokens.access))).revoked).toBe(1);
    expect(await a.token.verify({ token: phone.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await a.token.verify({ token: laptop.tokens.access })).toMatchObject({ valid: true });
    expect((await a.auth.listSessions({}, bearer(laptop.tokens.access))).sessions.map((s) => s.id)).toEqual([sid(laptop.tokens.access)]);
  });
});
