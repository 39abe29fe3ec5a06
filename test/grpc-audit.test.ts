/**
 * The audit trail over gRPC, on real PostgreSQL + Redis and on the embedded
 * default: each event the service records as people use it (registered,
 * logged_in, login_failed, locked_out, profile_updated, otp.sent, logged_out,
 * logged_out_all, reuse_detected), with its actor, the client's IP and
 * User-Agent, and its details, as ListActivity shows it; otp.* events, which only
 * staff list, are read from the service's own trail. ListActivity shows the
 * caller's own user.* and session.* events, at most 50, newest first.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../gen/identity/v1/audit_pb.js";
import { OtpPurpose } from "../gen/identity/v1/auth_pb.js";
import { failure, freshStores, startService, type Service, type Stores, type StoreMode } from "./support/grpc-harness.js";
import { freshPhone } from "./support/phones.js";
import { realStoresAvailable } from "./support/services.js";
import { jwtPayload } from "./support/tools.js";

const modes: StoreMode[] = realStoresAvailable() ? ["real", "embedded"] : ["embedded"];

/** A client as the service sees it (the test is the trusted proxy in front of it). */
interface Client {
  ip: string;
  userAgent: string;
}

const LAPTOP: Client = { ip: "203.0.113.21", userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0" };
const PHONE: Client = { ip: "198.51.100.22", userAgent: "IdentityApp/3.1 (Android 14)" };

/** A code of the same length that is not `code`. */
function wrong(code: string): string {
  return String((Number(code) + 1) % 10 ** code.length).padStart(code.length, "0");
}

describe.each(modes)("the audit trail over gRPC (%s stores)", (mode) => {
  let stores: Stores;
  let service: Service;

  beforeAll(async () => {
    stores = await freshStores(mode);
    // Every replay of a rotated refresh token is theft; the test client is the proxy.
    service = await startService(stores, { env: { TRUSTED_PROXIES: "127.0.0.1", REFRESH_REUSE_INTERVAL: "0s" } });
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  const from = (client: Client, access?: string) => ({
    headers: { "x-forwarded-for": client.ip, "user-agent": client.userAgent, ...(access === undefined ? {} : { authorization: `Bearer ${access}` }) },
  });
  const sidOf = (token: string) => String(jwtPayload(token).sid);

  async function codeFor(phone: string, purpose: "register" | "login", client: Client): Promise<string> {
    await service.auth.sendOtp({ phone, purpose: purpose === "register" ? OtpPurpose.REGISTER : OtpPurpose.LOGIN }, from(client));
    return service.sms.codeFor(phone, purpose);
  }

  async function signUp(client: Client = LAPTOP) {
    const phone = freshPhone().e164;
    const { user, tokens } = await service.auth.register({ phone, code: await codeFor(phone, "register", client), firstName: "Sara", lastName: "Ahmadi" }, from(client));
    return { phone, userId: user!.id, tokens: tokens! };
  }

  async function logIn(phone: string, client: Client) {
    const { tokens } = await service.auth.login({ phone, code: await codeFor(phone, "login", client) }, from(client));
    return tokens!;
  }

  async function activity(access: string, client: Client = LAPTOP): Promise<AuditEvent[]> {
    return (await service.auth.listActivity({}, from(client, access))).events;
  }

  /** An event as a test states it: what ListActivity says of it, `at` and `id` aside. */
  function shown(event: AuditEvent) {
    return { type: event.type, userId: event.userId, sessionId: event.sessionId, actor: event.actor, ip: event.ip, userAgent: event.userAgent, details: event.details };
  }

  /** The otp.sent events of the service's trail that `client` caused since `since`, oldest first. */
  async function codesSent(client: Client, since: number) {
    const events = await service.app.deps.audit.list({ types: ["otp.sent"], since: new Date(since), limit: 500 });
    return events.filter((e) => e.ip === client.ip).reverse();
  }

  it("records user.registered and user.logged_in about each new session, by its user, from the client that opened it", async () => {
    const started = Date.now();
    const { phone, userId, tokens } = await signUp(LAPTOP);
    const second = await logIn(phone, PHONE);
    const ended = Date.now();

    const events = await activity(second.access, PHONE);
    expect(events.map(shown)).toEqual([
      { type: "user.logged_in", userId, sessionId: sidOf(second.access), actor: `user:${userId}`, ip: PHONE.ip, userAgent: PHONE.userAgent, details: {} },
      { type: "user.registered", userId, sessionId: sidOf(tokens.access), actor: `user:${userId}`, ip: LAPTOP.ip, userAgent: LAPTOP.userAgent, details: {} },
    ]);
    for (const event of events) {
      expect(timestampMs(event.at!)).toBeGreaterThanOrEqual(started);
      expect(timestampMs(event.at!)).toBeLessThanOrEqual(ended);
    }
    expect(BigInt(events[0]!.id)).toBeGreaterThan(BigInt(events[1]!.id));
  });

  it("records otp.sent for each code sent, with its purpose and the provider: about no one for a new number, about the user for theirs", async () => {
    const since = Date.now();
    const client = { ip: "192.0.2.31", userAgent: "Signup/1.0" };
    const { phone, userId } = await signUp(client);
    await codeFor(phone, "login", client);
    const sent = await codesSent(client, since);
    expect(sent.map(({ type, userId, sessionId, actor, ip, userAgent, details }) => ({ type, userId, sessionId, actor, ip, userAgent, details }))).toEqual([
      { type: "otp.sent", userId: null, sessionId: null, actor: "system", ip: client.ip, userAgent: client.userAgent, details: { purpose: "register", provider: "webhook" } },
      { type: "otp.sent", userId, sessionId: null, actor: `user:${userId}`, ip: client.ip, userAgent: client.userAgent, details: { purpose: "login", provider: "webhook" } },
    ]);
    // A send refused before any SMS records nothing.
    expect(await failure(service.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER }, from(client)))).toMatchObject({ reason: "phone_already_registered" });
    expect(await codesSent(client, since)).toHaveLength(2);
    // Never the code.
    expect(JSON.stringify(sent)).not.toContain(service.sms.codeFor(phone, "login"));
  });

  it("records user.login_failed for a wrong, an exhausted and an expired login code of a registered phone, with the refusal's reason", async () => {
    const { phone, userId, tokens } = await signUp(LAPTOP);
    const code = await codeFor(phone, "login", PHONE);
    const reasons: string[] = [];
    for (let i = 0; i < 5; i++) reasons.push((await failure(service.auth.login({ phone, code: wrong(code) }, from(PHONE)))).reason);
    reasons.push((await failure(service.auth.login({ phone, code }, from(PHONE)))).reason);
    // No live code any more: the code is spent.
    await service.auth.login({ phone, code: await codeFor(phone, "login", PHONE) }, from(PHONE));
    reasons.push((await failure(service.auth.login({ phone, code }, from(PHONE)))).reason);
    expect(reasons).toEqual(["otp_invalid", "otp_invalid", "otp_invalid", "otp_invalid", "otp_attempts_exceeded", "otp_attempts_exceeded", "otp_expired"]);

    const failed = (await activity(tokens.access)).filter((e) => e.type === "user.login_failed");
    expect(failed.map(shown)).toEqual(
      [...reasons].reverse().map((reason) => ({ type: "user.login_failed", userId, sessionId: "", actor: `user:${userId}`, ip: PHONE.ip, userAgent: PHONE.userAgent, details: { reason } })),
    );
    expect(JSON.stringify(failed.map(shown))).not.toContain(code);
  });

  it("records nothing for a wrong code of a number without a user, or a wrong registration code", async () => {
    const since = new Date();
    const phone = freshPhone().e164;
    const code = await codeFor(phone, "register", LAPTOP);
    expect(await failure(service.auth.register({ phone, code: wrong(code), firstName: "A", lastName: "B" }, from(LAPTOP)))).toMatchObject({ reason: "otp_invalid" });
    // No login code was sent to it: expired, and no one's failure.
    expect(await failure(service.auth.login({ phone, code: wrong(code) }, from(LAPTOP)))).toMatchObject({ reason: "otp_expired" });
    expect(await service.app.deps.audit.list({ types: ["user.login_failed", "user.locked_out"], since, limit: 10 })).toEqual([]);
  });

  it("records user.locked_out once when the phone locks for everyone, by the system, from the client whose wrong code locked it", async () => {
    const { phone, userId, tokens } = await signUp(LAPTOP);
    const guessers = ["203.0.113.71", "203.0.113.72", "203.0.113.73"].map((ip) => ({ ip, userAgent: `Guesser/${ip}` }));
    for (const guesser of guessers) {
      const code = await codeFor(phone, "login", guesser);
      for (let i = 0; i < 5; i++) await failure(service.auth.login({ phone, code: wrong(code) }, from(guesser)));
    }
    // Locked: refused before any code is checked, from anywhere, and no more events.
    expect(await failure(service.auth.login({ phone, code: "123456" }, from(PHONE)))).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });

    const events = await activity(tokens.access);
    const locked = events.filter((e) => e.type === "user.locked_out");
    const last = guessers.at(-1)!;
    expect(locked.map(shown)).toEqual([{ type: "user.locked_out", userId, sessionId: "", actor: "system", ip: last.ip, userAgent: last.userAgent, details: { retry_after: expect.any(Number) } }]);
    expect(Number(locked[0]!.details!.retry_after)).toBeGreaterThan(3500);
    expect(Number(locked[0]!.details!.retry_after)).toBeLessThanOrEqual(3600);
    // Newest first: the lock came right after the failure that caused it.
    expect(events.slice(0, 2).map((e) => e.type)).toEqual(["user.locked_out", "user.login_failed"]);
    expect(events.filter((e) => e.type === "user.login_failed")).toHaveLength(15);
  });

  it("records user.profile_updated with the fields whose value changed, and nothing for an update that changes none", async () => {
    const { userId, tokens } = await signUp(LAPTOP);
    await service.auth.updateProfile({ firstName: "Mina" }, from(PHONE, tokens.access));
    await service.auth.updateProfile({ firstName: "Mina", lastName: "Karimi" }, from(PHONE, tokens.access));
    await service.auth.updateProfile({ lastName: "Karimi" }, from(PHONE, tokens.access));
    await service.auth.updateProfile({}, from(PHONE, tokens.access));
    const updates = (await activity(tokens.access)).filter((e) => e.type === "user.profile_updated");
    const about = { type: "user.profile_updated", userId, sessionId: "", actor: `user:${userId}`, ip: PHONE.ip, userAgent: PHONE.userAgent };
    expect(updates.map(shown)).toEqual([
      { ...about, details: { fields: ["last_name"] } },
      { ...about, details: { fields: ["first_name"] } },
    ]);
  });

  it("records session.logged_out, session.reuse_detected (by the system) and session.logged_out_all (with how many it ended), each from its request's client", async () => {
    const { phone, userId, tokens: first } = await signUp(LAPTOP);
    const second = await logIn(phone, PHONE);
    const third = await logIn(phone, PHONE);
    await service.auth.logout({ refresh: second.refresh }, from(PHONE));
    // A rotated refresh token presented again: theft, the session is revoked.
    const rotated = (await service.token.refresh({ refresh: first.refresh }, from(LAPTOP))).tokens!;
    const thief = { ip: "192.0.2.66", userAgent: "curl/8.5.0" };
    expect(await failure(service.token.refresh({ refresh: first.refresh }, from(thief)))).toMatchObject({ reason: "token_blacklisted" });
    expect(await failure(service.auth.listActivity({}, from(LAPTOP, rotated.access)))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    const fourth = await logIn(phone, LAPTOP);
    expect((await service.auth.logoutAll({}, from(LAPTOP, fourth.access))).revoked).toBe(2);

    const left = await logIn(phone, PHONE);
    const events = (await activity(left.access, PHONE)).filter((e) => e.type.startsWith("session."));
    expect(events.map(shown)).toEqual([
      { type: "session.logged_out_all", userId, sessionId: "", actor: `user:${userId}`, ip: LAPTOP.ip, userAgent: LAPTOP.userAgent, details: { revoked: 2 } },
      { type: "session.reuse_detected", userId, sessionId: sidOf(first.access), actor: "system", ip: thief.ip, userAgent: thief.userAgent, details: {} },
      { type: "session.logged_out", userId, sessionId: sidOf(second.access), actor: `user:${userId}`, ip: PHONE.ip, userAgent: PHONE.userAgent, details: {} },
    ]);
    // Refreshes are not events.
    expect((await activity(left.access, PHONE)).filter((e) => e.sessionId === sidOf(third.access)).map((e) => e.type)).toEqual(["user.logged_in"]);
  });

  it("ListActivity shows the caller's own user.* and session.* events only, the 50 newest, newest first", async () => {
    const mine = await signUp(LAPTOP);
    const theirs = await signUp(PHONE);
    for (let i = 0; i < 55; i++) await service.auth.updateProfile({ firstName: `Name${i}` }, from(LAPTOP, mine.tokens.access));
    await service.auth.updateProfile({ firstName: "Other" }, from(PHONE, theirs.tokens.access));
    await codeFor(mine.phone, "login", LAPTOP); // otp.sent about me: not activity

    const events = await activity(mine.tokens.access);
    expect(events).toHaveLength(50);
    expect(events.every((e) => e.userId === mine.userId && e.type === "user.profile_updated")).toBe(true);
    const order = events.map((e) => [timestampMs(e.at!), BigInt(e.id)] as const);
    for (let i = 1; i < order.length; i++) {
      const [at, id] = order[i]!;
      const [prevAt, prevId] = order[i - 1]!;
      expect(at < prevAt || (at === prevAt && id < prevId)).toBe(true);
    }
    expect((await service.app.deps.audit.list({ userId: mine.userId, types: ["otp.sent"], limit: 5 })).length).toBeGreaterThan(0);
    expect((await activity(theirs.tokens.access, PHONE)).map((e) => e.type)).toEqual(["user.profile_updated", "user.registered"]);
  });

  it("ListActivity needs a live session's access token", async () => {
    const { tokens } = await signUp(LAPTOP);
    expect(await failure(service.auth.listActivity({}))).toMatchObject({ code: Code.Unauthenticated, reason: "not_authenticated" });
    expect(await failure(service.auth.listActivity({}, from(LAPTOP, tokens.refresh)))).toMatchObject({ code: Code.Unauthenticated, reason: "token_wrong_type" });
    await service.auth.logout({ refresh: tokens.refresh });
    expect(await failure(service.auth.listActivity({}, from(LAPTOP, tokens.access)))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
  });
});
