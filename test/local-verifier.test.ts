/**
 * createLocalVerifier against the service run as processes (two instances on one
 * PostgreSQL and Redis), the verifier in this test process: every revocation kind
 * refused within 1 s when made on the other instance; never `valid: true` for a
 * revoked token while the feed is killed, stalled or restarted, falling back to
 * Verify when stale and refusing when that fails; resumption by cursor; key rotation;
 * the same answers as Verify.
 */
import { createPublicKey } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SignJWT, importPKCS8 } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey } from "../src/core/tokens/keys.js";
import { createLocalVerifier, type LocalVerifier } from "../src/index.js";
import { AdminService } from "../gen/identity/v1/admin_pb.js";
import { AuthService } from "../gen/identity/v1/auth_pb.js";
import { TokenService, type VerifyResponse } from "../gen/identity/v1/token_pb.js";
import { grpcProcessEnv, startServiceProcess, type ServiceProcess } from "./support/bridge-processes.js";
import { eventually } from "./support/eventually.js";
import { bearer, loginUser, registerUser } from "./support/grpc-harness.js";
import { scrape } from "./support/prometheus-text.js";
import { freshDatabase, realStoresAvailable } from "./support/services.js";
import { startSmsInbox, type SmsInbox } from "./support/sms-inbox.js";
import { tcpProxy, type TcpProxy } from "./support/tcp-proxy.js";
import { freePort, jwtHeader, jwtPayload } from "./support/tools.js";

const API_KEY = "local-verifier-suite-key-0123456789";
const ADMIN_KEY = "local-verifier-admin-key-0123456789";
/** The contract: a revocation made on any instance is refused within 1 s (of its response). */
const WITHIN_MS = 1000;

interface Instance {
  process: ServiceProcess;
  port: number;
  auth: Client<typeof AuthService>;
  token: Client<typeof TokenService>;
  admin: Client<typeof AdminService>;
  sms: SmsInbox;
  url: string;
}

interface Deployment {
  env: Record<string, string>;
  inbox: SmsInbox;
  start(port?: number, env?: Record<string, string>): Promise<Instance>;
  close(): Promise<void>;
}

async function deployment(): Promise<Deployment> {
  const [database, inbox, dataDir, signingKey] = await Promise.all([freshDatabase(), startSmsInbox(), mkdtemp(join(tmpdir(), "local-verifier-")), generateSigningKey("ES256")]);
  const started: ServiceProcess[] = [];
  const env: Record<string, string> = {
    ...grpcProcessEnv(database.url, inbox, dataDir),
    JWT_ALGORITHM: "ES256",
    JWT_SIGNING_KEY: signingKey,
    SERVICE_API_KEYS: `backend:${API_KEY},desk:${ADMIN_KEY}:admin`,
    OTP_RESEND_INTERVAL: "0s",
    OTP_MAX_PER_IP_PER_HOUR: "100000",
    OTP_MAX_PER_PHONE_PER_HOUR: "1000",
    REFRESH_REUSE_INTERVAL: "0s",
  };
  return {
    env,
    inbox,
    async start(port, extra = {}) {
      // Two processes start from source at once on a shared machine: tsx alone can take half a minute.
      const process = await startServiceProcess({ ...env, GRPC_PORT: String(port ?? 0), ...extra }, 90_000);
      started.push(process);
      const grpcPort = Number(process.listening.grpcPort);
      const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` });
      return {
        process,
        port: grpcPort,
        auth: createClient(AuthService, transport),
        token: createClient(TokenService, transport),
        admin: createClient(AdminService, transport),
        sms: inbox,
        url: `http://127.0.0.1:${grpcPort}`,
      };
    },
    async close() {
      for (const process of started) await process.stop();
      await Promise.all([database.drop(), inbox.close(), rm(dataDir, { recursive: true, force: true })]);
    },
  };
}

/** Polls `verify` until it refuses with `session_revoked`; fails past the deadline. */
async function refusedBy(verifier: LocalVerifier, token: string, deadline: number): Promise<VerifyResponse> {
  for (;;) {
    const answer = await verifier.verify(token);
    if (!answer.valid && answer.reason === "session_revoked") return answer;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify({ valid: answer.valid, reason: answer.reason })} ${WITHIN_MS} ms after the revocation`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The same token with other signature bytes, still canonical base64url (the last character, which carries padding bits, kept). */
function badSignature(token: string): string {
  const middle = token.slice(-9, -1);
  return `${token.slice(0, -9)}${middle === "AAAAAAAA" ? "BBBBBBBB" : "AAAAAAAA"}${token.slice(-1)}`;
}

const trusted = (verifier: LocalVerifier) => eventually(async () => verifier.status().trusted, (t) => t, { withinMs: 15_000 });
const verifyCount = async (instance: Instance) => (await scrape(instance.process.listening.metricsPort)).value("identity_verify_total");

describe.runIf(realStoresAvailable())("a local verifier beside two instances", () => {
  let d: Deployment;
  let a: Instance;
  let b: Instance;
  let verifier: LocalVerifier;

  beforeAll(async () => {
    d = await deployment();
    [a, b] = await Promise.all([d.start(), d.start()]);
    verifier = createLocalVerifier({ baseUrl: a.url, apiKey: API_KEY });
    await trusted(verifier);
  }, 180_000);
  afterAll(async () => {
    await verifier?.close();
    await d?.close();
  });

  /** A live token the verifier accepts, then `revoke` on B; refused within 1 s of B's answer. */
  async function refusesWithinASecond(access: string, revoke: () => Promise<unknown>) {
    expect(await verifier.verify(access)).toMatchObject({ valid: true });
    await revoke();
    const deadline = Date.now() + WITHIN_MS;
    expect(await refusedBy(verifier, access, deadline)).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await a.token.verify({ token: access })).toMatchObject({ valid: false, reason: "session_revoked" });
  }

  it("refuses within 1 s a session logged out on the other instance", async () => {
    const { tokens } = await registerUser(b);
    await refusesWithinASecond(tokens.access, () => b.auth.logout({ refresh: tokens.refresh }));
  });

  it("refuses within 1 s a session ended by RevokeSession on the other instance", async () => {
    const { phone, tokens } = await registerUser(b);
    const { tokens: other } = await loginUser(b, phone);
    const sid = jwtPayload(tokens.access).sid as string;
    await refusesWithinASecond(tokens.access, () => b.auth.revokeSession({ sessionId: sid }, bearer(other.access)));
    expect(await verifier.verify(other.access)).toMatchObject({ valid: true });
  });

  it("refuses within 1 s the sessions LogoutOthers ended on the other instance, not the caller's", async () => {
    const { phone, tokens } = await registerUser(b);
    const { tokens: kept } = await loginUser(b, phone);
    await refusesWithinASecond(tokens.access, () => b.auth.logoutOthers({}, bearer(kept.access)));
    expect(await verifier.verify(kept.access)).toMatchObject({ valid: true });
  });

  it("refuses within 1 s every session of a user logged out everywhere on the other instance", async () => {
    const { phone, tokens } = await registerUser(b);
    const { tokens: second } = await loginUser(a, phone);
    await refusesWithinASecond(tokens.access, () => b.auth.logoutAll({}, bearer(second.access)));
    expect(await refusedBy(verifier, second.access, Date.now() + WITHIN_MS)).toMatchObject({ reason: "session_revoked" });
    // A session begun after the logout-all lives.
    const { tokens: after } = await loginUser(b, phone);
    expect(await verifier.verify(after.access)).toMatchObject({ valid: true });
  });

  it("refuses within 1 s a session whose rotated-out refresh token was presented again on the other instance", async () => {
    const { tokens } = await registerUser(b);
    const rotated = (await b.token.refresh({ refresh: tokens.refresh })).tokens!;
    await refusesWithinASecond(rotated.access, () => b.token.refresh({ refresh: tokens.refresh }).catch(() => undefined));
  });

  it("refuses within 1 s every session of a user staff ended with RevokeUserSessions on the other instance", async () => {
    const { user, tokens } = await registerUser(b);
    await refusesWithinASecond(tokens.access, () => b.admin.revokeUserSessions({ id: user.id }, { headers: { "x-api-key": ADMIN_KEY } }));
  });

  it("refuses within 1 s every session of a user staff deactivated on the other instance", async () => {
    const { user, tokens } = await registerUser(b);
    await refusesWithinASecond(tokens.access, () => b.admin.updateUser({ id: user.id, isActive: false }, { headers: { "x-api-key": ADMIN_KEY } }));
  });

  it("refuses here, without asking the service, a token issued well before its user's logout-all", async () => {
    const { phone, tokens } = await registerUser(b);
    const { tokens: other } = await loginUser(b, phone);
    // Well before: the token's second ended more than a second before revoked_before.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect(await verifier.verify(tokens.access)).toMatchObject({ valid: true });
    const asked = await verifyCount(a);
    await b.auth.logoutAll({}, bearer(other.access));
    expect(await refusedBy(verifier, tokens.access, Date.now() + WITHIN_MS)).toMatchObject({ reason: "session_revoked" });
    expect(await verifyCount(a)).toBe(asked);
  });

  it("answers a live token here, without asking the service", async () => {
    const { tokens } = await registerUser(b);
    await verifier.verify(tokens.access);
    const asked = await verifyCount(a);
    for (let i = 0; i < 20; i++) expect(await verifier.verify(tokens.access)).toMatchObject({ valid: true });
    expect(await verifyCount(a)).toBe(asked);
  });

  it("gives Verify's answers for valid, expired, wrong-type, forged and garbage tokens", async () => {
    const { tokens, user } = await registerUser(b);
    const key = await importPKCS8(d.env.JWT_SIGNING_KEY!, "ES256");
    const kid = jwtHeader(tokens.access).kid as string;
    const claims = jwtPayload(tokens.access);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...claims, iat: now - 7200, exp: now - 3600 }).setProtectedHeader({ alg: "ES256", kid, typ: "JWT" }).sign(key);
    const forgedSignature = badSignature(tokens.access);
    const cases = [tokens.access, expired, tokens.refresh, forgedSignature, "garbage", "", "a.b.c", `${tokens.access}x`];
    for (const token of cases) {
      const [local, remote] = [await verifier.verify(token), await a.token.verify({ token })];
      expect({ token, valid: local.valid, reason: local.reason, user: local.user?.id, expiresAt: local.expiresAt?.seconds }).toEqual({
        token,
        valid: remote.valid,
        reason: remote.reason,
        user: remote.user?.id,
        expiresAt: remote.expiresAt?.seconds,
      });
    }
    expect((await verifier.verify(tokens.access)).user).toMatchObject({ id: user.id, phone: user.phone, isStaff: false });
  });

  it("asks Verify for everything while its set is stale (maxStaleness shorter than the heartbeat)", async () => {
    const stale = createLocalVerifier({ baseUrl: a.url, apiKey: API_KEY, maxStaleness: "1ms" });
    try {
      const { tokens } = await registerUser(b);
      const asked = await verifyCount(a);
      for (let i = 0; i < 5; i++) expect(await stale.verify(tokens.access)).toMatchObject({ valid: true });
      expect(await verifyCount(a)).toBeGreaterThanOrEqual(asked + 5);
    } finally {
      await stale.close();
    }
  });
});

describe.runIf(realStoresAvailable())("a local verifier through outages", () => {
  let d: Deployment;
  let a: Instance;
  let b: Instance;
  let aPort: number;
  let proxy: TcpProxy;
  let verifier: LocalVerifier;

  beforeAll(async () => {
    d = await deployment();
    aPort = await freePort();
    [a, b] = await Promise.all([d.start(aPort), d.start()]);
    proxy = await tcpProxy({ host: "127.0.0.1", port: aPort });
    verifier = createLocalVerifier({ baseUrl: `http://127.0.0.1:${proxy.port}`, apiKey: API_KEY });
    await trusted(verifier);
  }, 180_000);
  afterAll(async () => {
    await verifier?.close();
    await proxy?.refuse();
    await d?.close();
  });

  /**
   * Runs `outage` while checking, without pause, that no token of `revoked` is ever
   * answered valid; returns every answer seen (to assert on the fallbacks).
   */
  async function watchedDuring(revoked: string[], outage: () => Promise<void>): Promise<VerifyResponse[]> {
    const answers: VerifyResponse[] = [];
    let done = false;
    const watcher = (async () => {
      while (!done) {
        for (const token of revoked) {
          const answer = await verifier.verify(token);
          answers.push(answer);
          expect(answer.valid, `a revoked token read valid (${answer.reason})`).toBe(false);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    try {
      await outage();
    } finally {
      done = true;
      await watcher;
    }
    return answers;
  }

  async function revokedToken(on: Instance = b): Promise<string> {
    const { tokens } = await registerUser(on);
    await on.auth.logout({ refresh: tokens.refresh });
    await refusedBy(verifier, tokens.access, Date.now() + 5000);
    return tokens.access;
  }

  it("never accepts a revoked token while the service is SIGKILLed and restarted, refuses while Verify cannot answer, and recovers", async () => {
    const dead = await revokedToken();
    const { phone, tokens: live } = await registerUser(b);
    const revokedMeanwhile: string[] = [];
    const answers = await watchedDuring([dead], async () => {
      await a.process.kill();
      // Stale, and Verify unreachable: refused as the service refuses when it cannot answer.
      await eventually(() => verifier.verify(live.access), (r) => !r.valid && r.reason === "service_unavailable", { withinMs: 5000 });
      expect(verifier.status().trusted).toBe(false);
      // Made while the verifier is cut off: refused after it reconnects (resume by cursor).
      const { tokens } = await loginUser(b, phone);
      await b.auth.logout({ refresh: tokens.refresh });
      revokedMeanwhile.push(tokens.access);
      a = await d.start(aPort);
      await trusted(verifier);
    });
    expect(answers.some((r) => r.reason === "service_unavailable")).toBe(true);
    expect(await verifier.verify(revokedMeanwhile[0]!)).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await verifier.verify(dead)).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await verifier.verify(live.access)).toMatchObject({ valid: true });
  }, 180_000);

  it("never accepts a revoked token while the network stalls (nothing forwarded, nothing closed), and recovers", async () => {
    const dead = await revokedToken();
    const { tokens: live } = await registerUser(b);
    const during: string[] = [];
    await watchedDuring([dead], async () => {
      proxy.stall();
      await eventually(async () => verifier.status().trusted, (t) => !t, { withinMs: 3000 });
      // Revoked on B while the verifier hears nothing: its set is stale, so it asks, and refuses.
      const { tokens } = await registerUser(b);
      await b.auth.logout({ refresh: tokens.refresh });
      during.push(tokens.access);
      expect(await verifier.verify(tokens.access)).toMatchObject({ valid: false });
      await new Promise((resolve) => setTimeout(resolve, 3000));
      proxy.flow();
      await trusted(verifier);
    });
    expect(await verifier.verify(during[0]!)).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await verifier.verify(live.access)).toMatchObject({ valid: true });
  }, 180_000);

  it("never accepts a revoked token across a graceful restart, and resumes without a gap", async () => {
    const dead = await revokedToken();
    const before = verifier.status();
    const meanwhile: string[] = [];
    await watchedDuring([dead], async () => {
      await a.process.stop();
      const { tokens } = await registerUser(b);
      await b.auth.logout({ refresh: tokens.refresh });
      meanwhile.push(tokens.access);
      a = await d.start(aPort);
      await trusted(verifier);
    });
    expect(verifier.status().connections).toBeGreaterThan(before.connections);
    expect(await verifier.verify(meanwhile[0]!)).toMatchObject({ valid: false, reason: "session_revoked" });
    // Resumed after its cursor: the one revocation made meanwhile, not the opening set again.
    expect(before.received).toBeGreaterThan(1);
    expect(verifier.status().received - before.received).toBe(1);
  }, 180_000);
});

describe.runIf(realStoresAvailable())("a local verifier across a key rotation", () => {
  let d: Deployment;
  let verifier: LocalVerifier | undefined;

  beforeAll(async () => {
    d = await deployment();
  }, 180_000);
  afterAll(async () => {
    await verifier?.close();
    await d?.close();
  });

  it("verifies tokens of the new key and the old, fetching the JWKS once for the new kid and never for a bad signature", async () => {
    const port = await freePort();
    let a = await d.start(port);
    const { phone, tokens: old } = await registerUser(a);
    verifier = createLocalVerifier({ baseUrl: a.url, apiKey: API_KEY });
    await trusted(verifier);
    expect(await verifier.verify(old.access)).toMatchObject({ valid: true });
    const fetchedBefore = verifier.status().jwksFetches;

    // The new signing key, the old one kept in JWT_VERIFY_KEYS.
    const previous = createPublicKey(d.env.JWT_SIGNING_KEY!).export({ type: "spki", format: "pem" }).toString();
    await a.process.stop();
    a = await d.start(port, { JWT_SIGNING_KEY: await generateSigningKey("ES256"), JWT_VERIFY_KEYS: previous });
    await trusted(verifier);
    const { tokens: fresh } = await loginUser(a, phone);
    expect(jwtHeader(fresh.access).kid).not.toBe(jwtHeader(old.access).kid);

    expect(await verifier.verify(fresh.access)).toMatchObject({ valid: true });
    expect(verifier.status().jwksFetches).toBe(fetchedBefore + 1);
    expect(await verifier.verify(old.access)).toMatchObject({ valid: true });
    const tampered = badSignature(fresh.access);
    expect(await verifier.verify(tampered)).toMatchObject({ valid: false, reason: "token_not_valid" });
    expect(verifier.status().jwksFetches).toBe(fetchedBefore + 1);
  }, 180_000);
});
