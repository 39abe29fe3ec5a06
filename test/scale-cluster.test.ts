/**
 * Scale-out on a Redis Cluster: two service processes (no shared memory) on one
 * PostgreSQL database and a three-master Redis Cluster started by the test. The
 * whole story crosses instances; revocations are seen by the other instance within
 * a second (pub/sub through the cluster drops its in-process copy); every limit is
 * global; the keys really are spread over the masters, those read together share a
 * slot; and a flushed cluster never brings a revoked session back.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../gen/identity/v1/auth_pb.js";
import { TokenService } from "../gen/identity/v1/token_pb.js";
import { otpKeys } from "../src/core/otp/keys.js";
import { sessionCacheKey, userCacheKey } from "../src/store/liveness/keys.js";
import { startServiceProcess, type ServiceProcess } from "./support/bridge-processes.js";
import { bearer, failure, OtpPurpose } from "./support/grpc-harness.js";
import { startRedisCluster, type RedisCluster } from "./support/redis-cluster.js";
import { freshDatabase, freshKeyPrefix, realStoresAvailable } from "./support/services.js";
import { startSmsInbox, type SmsInbox } from "./support/sms-inbox.js";
import { jwtPayload } from "./support/tools.js";
import { freshPhone } from "./support/phones.js";

interface Instance {
  name: string;
  child: ServiceProcess;
  auth: Client<typeof AuthService>;
  token: Client<typeof TokenService>;
}

interface Tokens {
  access: string;
  refresh: string;
}

const IP_CAP = 3;

describe.runIf(realStoresAvailable())("two service processes on a Redis Cluster", () => {
  let cluster: RedisCluster;
  let db: { url: string; drop: () => Promise<void> };
  let sql: pg.Client;
  let inbox: SmsInbox;
  let dataDir: string;
  let prefix: string;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    [cluster, db, inbox, dataDir] = await Promise.all([
      startRedisCluster(),
      freshDatabase(),
      startSmsInbox(),
      mkdtemp(join(tmpdir(), "identity-cluster-")),
    ]);
    prefix = freshKeyPrefix();
    const env = {
      DATABASE_URL: db.url,
      REDIS_CLUSTER_NODES: cluster.nodes.join(","),
      REDIS_KEY_PREFIX: prefix,
      SERVICE_ROLE: "grpc",
      GRPC_PORT: "0",
      DATA_DIR: dataDir,
      // One signing key for both, as a deployment shares JWT_SIGNING_KEY.
      JWT_ALGORITHM: "HS256",
      JWT_SIGNING_KEY: randomBytes(48).toString("base64url"),
      SMS_PROVIDER: "webhook",
      SMS_WEBHOOK_URL: inbox.url,
      // Every test client is 127.0.0.1: each send names its own client address, so
      // the per-IP cap can be tested on one address without starving the others.
      TRUSTED_PROXIES: "127.0.0.1",
      OTP_MAX_PER_IP_PER_HOUR: String(IP_CAP),
      OTP_RESEND_INTERVAL: "60s",
    };
    const [first, second] = await Promise.all([startServiceProcess(env), startServiceProcess(env)]);
    a = instance("A", first);
    b = instance("B", second);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.child.stop(), b?.child.stop()]);
    await sql?.end();
    await inbox?.close();
    await cluster?.stop();
    await db?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  // A dead instance fails every later test at once: say so, with what it wrote,
  // rather than leave a trail of refused connections.
  afterEach(() => {
    for (const { name, child } of [a, b].filter((i) => i !== undefined)) {
      try {
        process.kill(child.pid, 0);
      } catch {
        throw new Error(`instance ${name} (pid ${child.pid}) is no longer running:\n${child.output().slice(-3000)}`);
      }
    }
  });

  function instance(name: string, child: ServiceProcess): Instance {
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${String(child.listening.grpcPort)}` });
    return { name, child, auth: createClient(AuthService, transport), token: createClient(TokenService, transport) };
  }

  let ipCounter = 0;
  /** A client address of its own (believed through TRUSTED_PROXIES). */
  const freshIp = () => {
    ipCounter += 1;
    return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
  };
  const from = (ip: string) => ({ headers: { "x-forwarded-for": ip } });

  async function sendCode(on: Instance, phone: string, purpose: "register" | "login", ip = freshIp()): Promise<string> {
    await on.auth.sendOtp({ phone, purpose: purpose === "register" ? OtpPurpose.REGISTER : OtpPurpose.LOGIN }, from(ip));
    return inbox.codeFor(phone, purpose);
  }

  async function signUp(sendOn: Instance, registerOn: Instance, phone = freshPhone().e164) {
    const code = await sendCode(sendOn, phone, "register");
    const { user, tokens } = await registerOn.auth.register({ phone, code, firstName: "Sara", lastName: "Ahmadi" });
    return { phone, user: user!, tokens: tokens! as Tokens };
  }

  async function logIn(sendOn: Instance, loginOn: Instance, phone: string): Promise<Tokens> {
    const code = await sendCode(sendOn, phone, "login");
    return (await loginOn.auth.login({ phone, code })).tokens!;
  }

  const isValid = async (on: Instance, access: string) => (await on.token.verify({ token: access })).valid;

  /** Polls Verify on `on` until it refuses `access`; milliseconds from the call. */
  async function msUntilRefused(on: Instance, access: string, limitMs = 3000): Promise<number> {
    const started = performance.now();
    while (await isValid(on, access)) {
      if (performance.now() - started > limitMs) throw new Error(`${on.name} still accepts the token after ${limitMs} ms`);
      await sleep(5);
    }
    return performance.now() - started;
  }

  /** Every key of this deployment, per master (SCAN on each node: a node lists only its own). */
  async function keysPerMaster(): Promise<Map<number, string[]>> {
    const result = new Map<number, string[]>();
    for (const port of cluster.ports) {
      const keys: string[] = [];
      let cursor = "0";
      do {
        const [next, batch] = await cluster.node(port).scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== "0");
      result.set(port, keys);
    }
    return result;
  }

  async function masterOf(key: string): Promise<number | undefined> {
    for (const [port, keys] of await keysPerMaster()) if (keys.includes(key)) return port;
    return undefined;
  }

  const slotOf = async (key: string) => Number(await cluster.node(cluster.ports[0]!).cluster("KEYSLOT", key));

  it("runs the story across both: a code sent on A registers on B; the tokens verify on both; A refreshes them", async () => {
    const phone = freshPhone().e164;
    const code = await sendCode(a, phone, "register");
    const { user, tokens } = await b.auth.register({ phone, code, firstName: "Ali", lastName: "Rezaei" });
    expect(user!.phone).toBe(phone);
    for (const on of [a, b]) expect(await on.token.verify({ token: tokens!.access })).toMatchObject({ valid: true, user: { id: user!.id, phone } });

    const next = (await a.token.refresh({ refresh: tokens!.refresh })).tokens!;
    expect(jwtPayload(next.refresh).sid).toBe(jwtPayload(tokens!.refresh).sid);
    for (const on of [a, b]) expect(await on.token.verify({ token: next.access })).toMatchObject({ valid: true });
    expect(await b.auth.getProfile({}, bearer(next.access))).toMatchObject({ user: { id: user!.id } });

    // A login code sent on B works on A.
    const again = await logIn(b, a, phone);
    expect(jwtPayload(again.access).sub).toBe(user!.id);
  });

  it("announces a revocation on every master of the cluster (pub/sub crosses the cluster bus)", async () => {
    const heard = new Map<number, string[]>();
    const subscribers = cluster.ports.map((port) => {
      const subscriber = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1 });
      heard.set(port, []);
      subscriber.on("message", (_channel: string, message: string) => heard.get(port)!.push(...message.split("\n")));
      return subscriber;
    });
    try {
      await Promise.all(subscribers.map((s) => s.subscribe(`${prefix}changes`)));
      const { user, tokens } = await signUp(a, a);
      await b.auth.logout({ refresh: tokens.refresh });
      const key = sessionCacheKey(user.id, jwtPayload(tokens.access).sid as string);
      const started = performance.now();
      while (![...heard.values()].every((keys) => keys.includes(key)) && performance.now() - started < 2000) await sleep(10);
      for (const port of cluster.ports) expect(heard.get(port), `announcements heard on ${port}`).toContain(key);
    } finally {
      for (const s of subscribers) s.disconnect();
    }
  });

  /**
   * Warms `on`'s in-process copy of each token's session state, revokes on the other
   * instance, and waits until `on` refuses every token, each within 1 s of the
   * revocation's answer. Such a copy lives up to 1 s: had the announcement not
   * reached `on`, it would go on accepting until the copy aged out. So a run in which
   * every refusal came less than 1 s after the copies were made proves the
   * announcement dropped them. A busy machine can make a run too slow to tell: then
   * it tries again with new sessions.
   */
  async function refusedThroughAnnouncement(on: Instance, prepare: () => Promise<{ accesses: string[]; revoke: () => Promise<unknown> }>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const { accesses, revoke } = await prepare();
      const warmedFrom = performance.now();
      for (const access of accesses) expect(await isValid(on, access)).toBe(true);
      for (const access of accesses) expect(await isValid(on, access)).toBe(true); // from the copy
      await revoke();
      const waits = await Promise.all(accesses.map((access) => msUntilRefused(on, access)));
      for (const ms of waits) expect(ms).toBeLessThan(1000);
      if (performance.now() - warmedFrom < 900) return;
      if (attempt === 4) throw new Error("no run was fast enough to tell the announcement from the copies' 1 s age-out");
    }
  }

  it("refuses on A, within 1 s of the logout's answer on B, the tokens of that session: the announcement drops A's in-process copy", async () => {
    let revoked: Tokens | undefined;
    await refusedThroughAnnouncement(a, async () => {
      const { tokens } = await signUp(a, b);
      revoked = tokens;
      return { accesses: [tokens.access], revoke: () => b.auth.logout({ refresh: tokens.refresh }) };
    });
    expect(await a.token.verify({ token: revoked!.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await failure(a.auth.getProfile({}, bearer(revoked!.access)))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    expect(await failure(a.token.refresh({ refresh: revoked!.refresh }))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
  });

  it("refuses on B, within 1 s, every session of a user logged out everywhere on A: the announcement drops B's copies", async () => {
    let revoked: Tokens[] = [];
    await refusedThroughAnnouncement(b, async () => {
      const { phone, tokens: first } = await signUp(a, a);
      const second = await logIn(b, b, phone);
      revoked = [first, second];
      return {
        accesses: revoked.map((t) => t.access),
        revoke: async () => expect((await a.auth.logoutAll({}, bearer(first.access))).revoked).toBe(2),
      };
    });
    for (const t of revoked) {
      expect(await b.token.verify({ token: t.access })).toMatchObject({ valid: false, reason: "session_revoked" });
      expect(await failure(b.token.refresh({ refresh: t.refresh }))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    }
  });

  it("shares the resend interval: a code sent on A refuses a resend on B", async () => {
    const phone = freshPhone().e164;
    await sendCode(a, phone, "register");
    const refused = await failure(b.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER }, from(freshIp())));
    expect(refused).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
  });

  it("counts the per-IP hourly cap across A and B", async () => {
    const ip = freshIp();
    for (let i = 0; i < IP_CAP; i++) await sendCode(i % 2 === 0 ? a : b, freshPhone().e164, "register", ip);
    for (const on of [b, a]) {
      expect(await failure(on.auth.sendOtp({ phone: freshPhone().e164, purpose: OtpPurpose.REGISTER }, from(ip)))).toMatchObject({
        code: Code.ResourceExhausted,
        reason: "rate_limited",
      });
    }
    // Another client address still has its budget.
    await sendCode(b, freshPhone().e164, "register", freshIp());
  });

  it("shares the attempt count of a code: wrong guesses on A and B together reach OTP_MAX_ATTEMPTS", async () => {
    const phone = freshPhone().e164;
    const code = await sendCode(a, phone, "register");
    const wrong = `${(Number(code[0]) + 1) % 10}${code.slice(1)}`;
    const reasons: string[] = [];
    for (const on of [a, b, a, b, a]) reasons.push((await failure(on.auth.register({ phone, code: wrong, firstName: "", lastName: "" }))).reason);
    expect(reasons).toEqual(["otp_invalid", "otp_invalid", "otp_invalid", "otp_invalid", "otp_attempts_exceeded"]);
    // The right code is dead too, on either instance.
    for (const on of [b, a]) expect(await failure(on.auth.register({ phone, code, firstName: "", lastName: "" }))).toMatchObject({ reason: "otp_attempts_exceeded" });
  });

  it("answers 20 concurrent refreshes of one token, split across A and B, with one successor and one live refresh token", async () => {
    const { tokens } = await signUp(b, a);
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).token.refresh({ refresh: tokens.refresh })));
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    const jtis = new Set(results.map((r) => jwtPayload((r as PromiseFulfilledResult<{ tokens?: { refresh: string } }>).value.tokens!.refresh).jti as string));
    expect(jtis.size).toBe(1);
    const sid = jwtPayload(tokens.refresh).sid as string;
    const live = await sql.query<{ jti: string }>("SELECT jti FROM outstanding_tokens WHERE session_id = $1 AND replaced_by IS NULL", [sid]);
    expect(live.rows.map((r) => r.jti)).toEqual([...jtis]);
    const session = await sql.query<{ current_refresh_jti: string }>("SELECT current_refresh_jti FROM sessions WHERE id = $1", [sid]);
    expect(session.rows[0]!.current_refresh_jti).toBe([...jtis][0]);
  });

  it("is really a cluster: three masters share the slots, and the service's keys are spread over more than one", async () => {
    const slots = await cluster.node(cluster.ports[0]!).cluster("SLOTS");
    expect(new Set(slots.map(([, , master]) => master?.[1]))).toEqual(new Set(cluster.ports));
    expect(slots.reduce((n, [from, to]) => n + to - from + 1, 0)).toBe(16384);
    const perMaster = await keysPerMaster();
    const withKeys = [...perMaster.values()].filter((keys) => keys.length > 0);
    expect(withKeys.length).toBeGreaterThan(1);
  });

  it("keeps the keys that go together in one slot: a user's session and user keys, a phone's code and its counters", async () => {
    const { phone, user, tokens } = await signUp(a, b);
    expect(await isValid(b, tokens.access)).toBe(true); // fills the session and user keys
    const sessionKey = prefix + sessionCacheKey(user.id, jwtPayload(tokens.access).sid as string);
    const userKey = prefix + userCacheKey(user.id);
    expect(await slotOf(sessionKey)).toBe(await slotOf(userKey));
    const userMaster = await masterOf(userKey);
    expect(userMaster).toBeDefined();
    expect(await masterOf(sessionKey)).toBe(userMaster);

    // A login code, a wrong guess: the code (its failure count is a field of the
    // same hash), the resend mark, the hourly counter and the failure counter.
    const code = await sendCode(a, phone, "login");
    const wrong = `${(Number(code[0]) + 1) % 10}${code.slice(1)}`;
    expect(await failure(b.auth.login({ phone, code: wrong }))).toMatchObject({ reason: "otp_invalid" });
    const phoneKeys = [otpKeys.code(phone, "login"), otpKeys.resend(phone, "login"), otpKeys.phoneSends(phone), otpKeys.phoneFailures(phone)].map((k) => prefix + k);
    const slots = await Promise.all(phoneKeys.map(slotOf));
    expect(new Set(slots).size).toBe(1);
    const master = await masterOf(phoneKeys[0]!);
    for (const key of phoneKeys) expect(await masterOf(key), key).toBe(master);
    expect(await cluster.node(master!).hgetall(phoneKeys[0]!)).toMatchObject({ failures: "1" });
  });

  it("keeps revoked sessions refused on both instances after FLUSHALL on every master (read through from PostgreSQL), and live ones valid", async () => {
    const { tokens: loggedOut } = await signUp(a, b);
    const { phone, tokens: first } = await signUp(b, a);
    const second = await logIn(a, a, phone);
    const { tokens: live } = await signUp(a, a);
    await a.auth.logout({ refresh: loggedOut.refresh });
    await b.auth.logoutAll({}, bearer(first.access));
    const revoked = [loggedOut, first, second];
    for (const on of [a, b]) for (const t of revoked) expect(await isValid(on, t.access)).toBe(false);

    for (const port of cluster.ports) await cluster.node(port).flushall();
    expect([...(await keysPerMaster()).values()].flat()).toEqual([]);

    for (const on of [a, b]) {
      for (const t of revoked) {
        expect(await on.token.verify({ token: t.access })).toMatchObject({ valid: false, reason: "session_revoked" });
        expect(await failure(on.token.refresh({ refresh: t.refresh }))).toMatchObject({ code: Code.PermissionDenied });
      }
      expect(await isValid(on, live.access)).toBe(true);
    }
    // The read-through filled the cache again.
    expect([...(await keysPerMaster()).values()].flat().length).toBeGreaterThan(0);
  });

  it("met no CROSSSLOT error and no internal error on either instance", () => {
    for (const { child, name } of [a, b]) {
      const text = child.log.map((line) => JSON.stringify(line)).join("\n");
      expect(text, name).not.toMatch(/CROSSSLOT/);
      expect(child.log.filter((line) => Number(line.level) >= 50), name).toEqual([]);
      // Every call was logged (the story ran here), and none ended "internal_error".
      expect(child.log.some((line) => line.rpc !== undefined), name).toBe(true);
      expect(child.log.filter((line) => line.outcome === "internal_error" || line.outcome === "service_unavailable"), name).toEqual([]);
    }
  });

  /** The masters the two instances' pub/sub subscriptions are connected to. */
  async function subscriberMasters(): Promise<number[]> {
    const found: number[] = [];
    for (const port of cluster.ports) {
      const clients = String(await cluster.node(port).client("LIST")).split("\n");
      for (const client of clients) if (/name=ioredis-cluster\(subscriber\)/.test(client) && / sub=[1-9]/.test(client)) found.push(port);
    }
    return found;
  }

  it("fails closed for the slots of a killed master, keeps revocation through its restart (it comes back empty), and hears announcements again", async () => {
    // The master to kill carries an instance's subscription, so announcements must
    // survive losing it too.
    const before = await subscriberMasters();
    expect(before).toHaveLength(2);
    const target = before[0]!;
    /** A new session whose cached state lives on the target master. */
    const sessionOnTarget = async (): Promise<Tokens> => {
      for (let i = 0; i < 40; i++) {
        const { user, tokens } = await signUp(a, b);
        expect(await isValid(a, tokens.access)).toBe(true); // fills its keys
        if ((await masterOf(prefix + sessionCacheKey(user.id, jwtPayload(tokens.access).sid as string))) === target) return tokens;
      }
      throw new Error("no session landed on the chosen master");
    };
    const revoked = await sessionOnTarget();
    await b.auth.logout({ refresh: revoked.refresh });
    const live = await sessionOnTarget();

    const answer = async (on: Instance, access: string) => {
      try {
        const { valid, reason } = await on.token.verify({ token: access });
        return valid ? "valid" : reason;
      } catch (error) {
        return (await failure(Promise.reject(error))).code === Code.Unavailable ? "unavailable" : "other error";
      }
    };

    await cluster.kill(target);
    const killedAt = performance.now();
    // Well under the cluster's node timeout (3 s), so only this master's slots are down.
    while (performance.now() - killedAt < 1800) {
      for (const on of [a, b]) {
        expect(["session_revoked", "unavailable"]).toContain(await answer(on, revoked.access));
        const liveAnswer = await answer(on, live.access);
        // Copies held in-process live at most 1 s; after that nobody can say "valid".
        if (performance.now() - killedAt > 1100) expect(liveAnswer, `${on.name} ${Math.round(performance.now() - killedAt)} ms after the kill`).toBe("unavailable");
        else expect(["valid", "unavailable"]).toContain(liveAnswer);
      }
      await sleep(50);
    }

    await cluster.revive(target);
    expect(await cluster.node(target).dbsize()).toBe(0);
    const started = performance.now();
    for (const on of [a, b]) {
      while ((await answer(on, live.access)) !== "valid") {
        if (performance.now() - started > 15_000) throw new Error(`${on.name} did not recover within 15 s`);
        await sleep(100);
      }
      expect(await answer(on, revoked.access)).toBe("session_revoked");
    }
    expect(await subscriberMasters()).toHaveLength(2);
    await refusedThroughAnnouncement(a, async () => {
      const { tokens } = await signUp(b, b);
      return { accesses: [tokens.access], revoke: () => b.auth.logout({ refresh: tokens.refresh }) };
    });
    await refusedThroughAnnouncement(b, async () => {
      const { tokens } = await signUp(a, a);
      return { accesses: [tokens.access], revoke: () => a.auth.logout({ refresh: tokens.refresh }) };
    });
  }, 45_000);
});
