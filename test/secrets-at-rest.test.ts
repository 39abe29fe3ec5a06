/**
 * No secret at rest (issue 4, item 7): after a full flow through one production-
 * configured process at LOG_LEVEL=debug, no one-time code, whole token, token
 * signature or key is found in the logs, in Redis, or in any PostgreSQL row (the
 * audit trail's events included, issue 11); and
 * `npm start` with NODE_ENV=production refuses the weak set-ups with one line that
 * names the variable and echoes no secret.
 */
import { createHash, createHmac, generateKeyPairSync, hkdfSync, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService, OtpPurpose } from "../gen/identity/v1/auth_pb.js";
import { TokenService } from "../gen/identity/v1/token_pb.js";
import { codeDigest } from "../src/core/otp/digest.js";
import { runServiceProcessToExit, startServiceProcess, type ServiceProcess } from "./support/bridge-processes.js";
import { bearer, failure } from "./support/grpc-harness.js";
import { freshDatabase, freshKeyPrefix, realStoresAvailable, REDIS_URL } from "./support/services.js";
import { startSmsInbox, type SmsInbox } from "./support/sms-inbox.js";
import { jwtPayload, keysUnder, sharedRedis } from "./support/tools.js";
import { freshPhone } from "./support/phones.js";

/** Something that must not be found, and how to recognise it. */
interface Secret {
  what: string;
  text: string;
  /** Codes are digit runs: matched only where no digit touches them, so the digits
   * inside a timestamp or a phone number are not taken for a code. */
  digits?: boolean;
}

interface Leak {
  what: string;
  where: string;
  around: string;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Every secret found in `text` (labelled `where`), with a little context. */
function leaksIn(where: string, text: string, secrets: readonly Secret[]): Leak[] {
  const found: Leak[] = [];
  for (const secret of secrets) {
    const pattern = secret.digits ? new RegExp(`(?<!\\d)${escapeRegExp(secret.text)}(?!\\d)`) : new RegExp(escapeRegExp(secret.text));
    const match = pattern.exec(text);
    if (match !== null) found.push({ what: secret.what, where, around: text.slice(Math.max(0, match.index - 60), match.index + secret.text.length + 60) });
  }
  return found;
}

/** A six-digit code that is not `code`. */
function wrongCode(code: string): string {
  return String((Number(code) + 1) % 10 ** code.length).padStart(code.length, "0");
}

function b64url(json: unknown): string {
  return Buffer.from(JSON.stringify(json)).toString("base64url");
}

/** Every key under `prefix` with its value, whatever the type, as one line each. */
async function redisDump(prefix: string): Promise<{ keys: string[]; lines: string[] }> {
  const redis = sharedRedis();
  try {
    const keys = await keysUnder(redis, prefix);
    const lines: string[] = [];
    for (const key of keys) {
      const type = await redis.type(key);
      let value: unknown;
      if (type === "string") value = (await redis.getBuffer(key))?.toString("latin1");
      else if (type === "hash") value = await redis.hgetall(key);
      else if (type === "list") value = await redis.lrange(key, 0, -1);
      else if (type === "set") value = await redis.smembers(key);
      else if (type === "zset") value = await redis.zrange(key, "0", "-1", "WITHSCORES");
      else if (type === "stream") value = await redis.xrange(key, "-", "+");
      else if (type === "none") continue; // expired between SCAN and TYPE
      else throw new Error(`no reader for Redis type ${type} (${key})`);
      lines.push(`${key} (${type}) ${JSON.stringify(value)}`);
    }
    return { keys, lines };
  } finally {
    redis.disconnect();
  }
}

/** Every row of every table of the public schema, as JSON, table by table. */
async function databaseDump(url: string): Promise<Map<string, string[]>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name",
    );
    const dump = new Map<string, string[]>();
    for (const { table_name } of tables.rows) {
      const rows = await client.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${table_name.replace(/"/g, '""')}" t`);
      dump.set(table_name, rows.rows.map((r) => r.row));
    }
    return dump;
  } finally {
    await client.end();
  }
}

describe.runIf(realStoresAvailable())("no secret at rest after a full flow (NODE_ENV=production, LOG_LEVEL=debug, webhook SMS)", () => {
  const signingKey = randomBytes(36).toString("base64url"); // 48 bytes, HS256
  const webhookSecret = randomBytes(24).toString("hex");
  const apiKey = randomBytes(24).toString("hex");
  const prefix = freshKeyPrefix();
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let dataDir: string;
  let inbox: SmsInbox;
  let service: ServiceProcess;
  let auth: Client<typeof AuthService>;
  let token: Client<typeof TokenService>;
  let http: string;
  /** Tokens the flow received or forged, and the codes it typed wrong. */
  const tokens: string[] = [];
  const wrongCodes: string[] = [];
  let pendingPhone: string;
  /** The session revoked as stolen: its id is (rightly) in the log, Redis and PostgreSQL. */
  let stolenSession: string;
  const pubsub: string[] = [];
  let listener: ReturnType<typeof sharedRedis> | undefined;

  const api = async (method: string, path: string, body?: unknown, access?: string) => {
    const response = await fetch(`${http}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...(access === undefined ? {} : { authorization: `Bearer ${access}` }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // `any`: this reads every /api shape there is (as the bridge harness does).
    return { status: response.status, body: (await response.json()) as any };
  };
  const keep = <T extends { access: string; refresh: string }>(pair: T): T => {
    tokens.push(pair.access, pair.refresh);
    return pair;
  };

  beforeAll(async () => {
    [database, inbox, dataDir] = await Promise.all([freshDatabase(), startSmsInbox(), mkdtemp(join(tmpdir(), "identity-secrets-"))]);
    // Revocation announcements are not at rest, but they are Redis traffic: listen too.
    listener = sharedRedis();
    await listener.subscribe(`${prefix}changes`);
    listener.on("message", (_channel: string, message: string) => pubsub.push(message));
    service = await startServiceProcess({
      NODE_ENV: "production",
      SERVICE_ROLE: "all",
      GRPC_PORT: "0",
      HTTP_PORT: "0",
      LOG_LEVEL: "debug",
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      JWT_ALGORITHM: "HS256",
      JWT_SIGNING_KEY: signingKey,
      SMS_PROVIDER: "webhook",
      SMS_WEBHOOK_URL: inbox.url,
      SMS_WEBHOOK_SECRET: webhookSecret,
      SERVICE_API_KEYS: `billing:${apiKey}`,
      // Every replay of a rotated token is theft: the replay below is refused at once.
      REFRESH_REUSE_INTERVAL: "0s",
      OTP_RESEND_INTERVAL: "0s",
      DEFAULT_LOCALE: "en",
    });
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${String(service.listening.grpcPort)}` });
    auth = createClient(AuthService, transport);
    token = createClient(TokenService, transport);
    http = String(service.listening.http);

    // --- The flow: every operation, through /api and gRPC alike. ---
    const phone = freshPhone().e164;
    const local = `0${phone.slice(3)}`;
    expect((await api("POST", "/api/send-otp/", { phone: local, purpose: "register" })).status).toBe(200);
    const registerCode = inbox.codeFor(phone, "register");
    wrongCodes.push(wrongCode(registerCode));
    expect((await api("POST", "/api/register/", { phone: local, code: wrongCode(registerCode), first_name: "Sara", last_name: "Ahmadi" })).body.data.code).toBe("otp_invalid");
    const registered = await api("POST", "/api/register/", { phone: local, code: registerCode, first_name: "Sara", last_name: "Ahmadi" });
    expect(registered.status).toBe(201);
    const first = keep(registered.body.data.tokens as { access: string; refresh: string });

    expect(await token.verify({ token: first.access })).toMatchObject({ valid: true });
    expect((await api("POST", "/api/token/verify/", { token: first.access })).status).toBe(200);
    const introspectKey = { headers: { "x-api-key": apiKey } };
    expect(await token.introspect({ token: first.access }, introspectKey)).toMatchObject({ active: true });
    expect(await token.introspect({ token: first.refresh, tokenTypeHint: "refresh_token" }, introspectKey)).toMatchObject({ active: true });
    expect((await api("GET", "/api/dashboard/", undefined, first.access)).status).toBe(200);
    expect((await api("PATCH", "/api/profile/", { first_name: "Sarah" }, first.access)).status).toBe(200);
    expect((await auth.getProfile({}, bearer(first.access))).user?.firstName).toBe("Sarah");
    await auth.updateProfile({ lastName: "Ahmadi-Rad" }, bearer(first.access));

    // Rotation through both surfaces, then the first refresh token replayed: theft.
    const rotated = await api("POST", "/api/token/refresh/", { refresh: first.refresh });
    expect(rotated.status).toBe(200);
    const second = keep(rotated.body.data as { access: string; refresh: string });
    const third = keep((await token.refresh({ refresh: second.refresh })).tokens!);
    stolenSession = String(jwtPayload(first.refresh).sid);
    const replay = await api("POST", "/api/token/refresh/", { refresh: first.refresh });
    expect({ status: replay.status, code: replay.body.data.code }).toEqual({ status: 403, code: "token_blacklisted" });
    expect(await token.verify({ token: third.access })).toMatchObject({ valid: false, reason: "session_revoked" });

    // Logins: a wrong code, then the right one, on each surface; logout, logout-all.
    await auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN });
    const loginCode = inbox.codeFor(phone, "login");
    wrongCodes.push(wrongCode(loginCode));
    expect(await failure(auth.login({ phone, code: wrongCode(loginCode) }))).toMatchObject({ code: Code.InvalidArgument, reason: "otp_invalid" });
    const fourth = keep((await auth.login({ phone, code: loginCode })).tokens!);
    expect((await api("POST", "/api/send-otp/", { phone: local, purpose: "login" })).status).toBe(200);
    const loggedIn = await api("POST", "/api/login/", { phone: local, code: inbox.codeFor(phone, "login") });
    expect(loggedIn.status).toBe(200);
    const fifth = keep(loggedIn.body.data.tokens as { access: string; refresh: string });
    await auth.logout({ refresh: fourth.refresh });
    expect((await api("POST", "/api/logout-all/", undefined, fifth.access)).body.data.revoked).toBe(1);
    expect((await api("POST", "/api/logout/", { refresh: fifth.refresh })).body.data.code).toBe("token_blacklisted");

    // A live session left at rest (its state cached in Redis), and a code never used.
    await auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN });
    const sixth = keep((await auth.login({ phone, code: inbox.codeFor(phone, "login") })).tokens!);
    expect(await token.verify({ token: sixth.access })).toMatchObject({ valid: true });
    pendingPhone = freshPhone().e164;
    await auth.sendOtp({ phone: pendingPhone, purpose: OtpPurpose.REGISTER });

    // Forgeries: a changed payload under the real signature, alg none, a stranger's key.
    const [header, payload, signature] = sixth.access.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    const tampered = `${header}.${b64url({ ...claims, is_staff: true })}.${signature}`;
    const unsigned = `${b64url({ alg: "none", typ: "JWT" })}.${payload}.`;
    const strangerInput = `${header}.${b64url({ ...claims, is_staff: true })}`;
    const stranger = `${strangerInput}.${createHmac("sha256", randomBytes(32)).update(strangerInput).digest("base64url")}`;
    for (const forged of [tampered, unsigned, stranger]) {
      tokens.push(forged);
      expect(await token.verify({ token: forged })).toMatchObject({ valid: false, reason: "token_not_valid" });
      expect((await api("POST", "/api/token/verify/", { token: forged })).status).toBe(401);
      expect((await api("GET", "/api/dashboard/", undefined, forged)).status).toBe(401);
    }
    expect(await failure(token.refresh({ refresh: stranger }))).toMatchObject({ code: Code.Unauthenticated, reason: "token_not_valid" });

    // The logs are complete once the process has drained and exited.
    await service.stop();
  }, 90_000);

  afterAll(async () => {
    listener?.disconnect();
    await service?.stop();
    await inbox?.close();
    await database?.drop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  /** Everything that must never be at rest. */
  function secrets(): Secret[] {
    const list: Secret[] = [];
    for (const sms of inbox.received) {
      list.push({ what: `the ${sms.purpose} code sent to ${sms.to}`, text: sms.code, digits: true });
      // A hash anyone can recompute from a six-digit code is the code.
      list.push({ what: `an unkeyed SHA-256 of a code`, text: createHash("sha256").update(sms.code).digest("hex") });
      list.push({ what: `an unkeyed SHA-256 of a code`, text: createHash("sha256").update(`${sms.purpose}\0${sms.to}\0${sms.code}`).digest("base64url") });
    }
    for (const code of wrongCodes) list.push({ what: "a wrong code a client typed", text: code, digits: true });
    for (const t of tokens) {
      list.push({ what: "a whole token", text: t });
      const signature = t.split(".")[2] ?? "";
      if (signature.length >= 16) list.push({ what: "a token's signature", text: signature });
    }
    const otpKey = Buffer.from(hkdfSync("sha256", signingKey, "identity-service", "otp-digest", 32));
    for (const [what, text] of [
      ["the signing secret", signingKey],
      ["the signing secret (base64)", Buffer.from(signingKey).toString("base64")],
      ["the signing secret (hex)", Buffer.from(signingKey).toString("hex")],
      ["the code-hash key (hex)", otpKey.toString("hex")],
      ["the code-hash key (base64url)", otpKey.toString("base64url")],
      ["the code-hash key (base64)", otpKey.toString("base64")],
      ["the SMS webhook secret", webhookSecret],
      ["a service API key", apiKey],
    ] as const) {
      list.push({ what, text });
    }
    return list;
  }

  it("can find what it looks for: the codes in the SMS the gateway received, a token placed in a line", () => {
    // The scan is the same function below; here it must find what is there.
    expect(inbox.received.length).toBeGreaterThanOrEqual(5);
    for (const sms of inbox.received) {
      expect(leaksIn("inbox", JSON.stringify(sms), secrets()).map((l) => l.what)).toContain(`the ${sms.purpose} code sent to ${sms.to}`);
    }
    const line = JSON.stringify({ level: 30, time: Date.now(), msg: "oops", value: tokens[0] });
    expect(leaksIn("line", line, secrets()).map((l) => l.what)).toEqual(expect.arrayContaining(["a whole token", "a token's signature"]));
    // A timestamp that merely contains the digits is not a code.
    const code = inbox.received[0]!.code;
    expect(leaksIn("line", `{"time":17${code}123,"phone":"+98912${code}1"}`, [{ what: "code", text: code, digits: true }])).toEqual([]);
  });

  it("writes no code, token, signature or key to the logs (debug level, every line)", () => {
    const output = service.output();
    const lines = output.split("\n").filter((l) => l.trim() !== "");
    // The scan saw the logs it should: per-call lines, the bridge's debug lines, and
    // the debug reasons for the refused tokens.
    expect(lines.filter((l) => l.includes('"msg":"rpc"')).length).toBeGreaterThan(20);
    expect(lines.some((l) => l.includes('"msg":"http"'))).toBe(true);
    expect(lines.filter((l) => l.includes('"msg":"token refused"')).length).toBeGreaterThanOrEqual(3);
    expect(leaksIn("log", output, [{ what: "the stolen session's id", text: stolenSession }])).toHaveLength(1);
    const leaks = lines.flatMap((line, i) => leaksIn(`log line ${i + 1}`, line, secrets()));
    expect(leaks).toEqual([]);
  });

  it("keeps no code, token, signature or key in Redis (every key and value under the prefix, any type), nor announces one", async () => {
    const { keys, lines } = await redisDump(prefix);
    // The pending code, the session cache and the counters are all there to be read.
    expect(keys.filter((k) => k.includes(pendingPhone) && k.includes("otp"))).toHaveLength(1);
    expect(leaksIn("redis", lines.join("\n"), [{ what: "the stolen session's id", text: stolenSession }])).toHaveLength(1);
    // Values are read too: the pending code is there, as its keyed hash (the key derived
    // from the signing secret, bound to phone and purpose), and only so.
    const pending = inbox.codeFor(pendingPhone, "register");
    const digest = codeDigest(new Uint8Array(hkdfSync("sha256", signingKey, "identity-service", "otp-digest", 32)), pendingPhone, "register", pending);
    expect(lines.filter((l) => l.includes(digest))).toHaveLength(1);
    const leaks = [...lines.flatMap((line) => leaksIn("redis", line, secrets())), ...pubsub.flatMap((m) => leaksIn("redis pub/sub", m, secrets()))];
    expect(pubsub.length).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
  });

  it("keeps no code, token, signature or key in any row of any PostgreSQL table", async () => {
    const dump = await databaseDump(database.url);
    // Every table the flow writes holds rows to scan.
    for (const table of ["users", "sessions", "outstanding_tokens", "blacklisted_tokens"]) expect(dump.get(table)?.length, table).toBeGreaterThan(0);
    // Refresh tokens are kept by their ids, which the scan does see.
    const jtis = tokens.filter((t) => jwtPayload(t).token_type === "refresh").map((t) => String(jwtPayload(t).jti));
    for (const jti of jtis) expect(dump.get("outstanding_tokens")!.some((row) => row.includes(jti)), jti).toBe(true);
    const leaks = [...dump].flatMap(([table, rows]) => rows.flatMap((row) => leaksIn(`table ${table}`, row, secrets())));
    expect(leaks).toEqual([]);
  });

  it("keeps no code, token, signature or key in any audit event: every column, details included", async () => {
    const events = (await databaseDump(database.url)).get("audit_events") ?? [];
    const rows = events.map((row) => JSON.parse(row) as { type: string; ip: string | null; user_agent: string | null; details: Record<string, unknown> });
    // The flow left an event of every kind it caused, with its client and details to scan.
    expect(new Set(rows.map((row) => row.type))).toEqual(
      new Set(["otp.sent", "user.registered", "user.login_failed", "user.logged_in", "user.profile_updated", "session.reuse_detected", "session.logged_out", "session.logged_out_all"]),
    );
    // The mistyped login code (the mistyped registration code is no one's failure yet).
    expect(rows.filter((row) => row.type === "user.login_failed").map((row) => row.details)).toEqual([{ reason: "otp_invalid" }]);
    expect(rows.every((row) => row.ip !== null && row.user_agent !== null)).toBe(true);
    const leaks = events.flatMap((row, i) => leaksIn(`audit event ${i + 1}`, row, secrets()));
    expect(leaks).toEqual([]);
  });
});

describe("npm start with NODE_ENV=production refuses a weak set-up", () => {
  const ecKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const smallRsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const shortSecret = randomBytes(31).toString("hex").slice(0, 31); // 31 bytes
  const webhookSecret = randomBytes(16).toString("hex");
  const apiKey = randomBytes(16).toString("hex");
  /** Complete but for the one change each case makes. The stores are never reached:
   * every refusal comes before they are opened (port 1 would fail differently). */
  const production: Record<string, string> = {
    NODE_ENV: "production",
    GRPC_PORT: "0",
    HTTP_PORT: "0",
    JWT_ALGORITHM: "ES256",
    JWT_SIGNING_KEY: ecKey,
    SMS_PROVIDER: "webhook",
    SMS_WEBHOOK_URL: "http://127.0.0.1:1/sms",
    SMS_WEBHOOK_SECRET: webhookSecret,
    SERVICE_API_KEYS: `billing:${apiKey}`,
    DATABASE_URL: "postgres://identity@127.0.0.1:1/identity",
    REDIS_URL: "redis://127.0.0.1:1",
  };
  /** PEM bodies are checked line by line: a key printed in part is still printed. */
  const keyMaterial = [webhookSecret, apiKey, shortSecret, ...[ecKey, smallRsa].flatMap((pem) => pem.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----")))];

  it.each<{ what: string; change: Record<string, string>; variable: string }>([
    { what: "generated keys (no JWT_SIGNING_KEY)", change: { JWT_SIGNING_KEY: "" }, variable: "JWT_SIGNING_KEY" },
    { what: "console SMS", change: { SMS_PROVIDER: "console" }, variable: "SMS_PROVIDER" },
    { what: "an HS256 secret under 32 bytes", change: { JWT_ALGORITHM: "HS256", JWT_SIGNING_KEY: shortSecret }, variable: "JWT_SIGNING_KEY" },
    { what: "an RSA key under 2048 bits", change: { JWT_ALGORITHM: "RS256", JWT_SIGNING_KEY: smallRsa }, variable: "JWT_SIGNING_KEY" },
  ])("refuses $what: exits non-zero with one line naming $variable, and prints no secret", async ({ change, variable }) => {
    const dataDir = await mkdtemp(join(tmpdir(), "identity-production-"));
    try {
      const { code, stdout, stderr } = await runServiceProcessToExit({ ...production, DATA_DIR: dataDir, ...change });
      expect(code).not.toBe(0);
      expect(code).not.toBeNull(); // exited by itself, not killed by the time-out
      expect(stdout).toBe("");
      const lines = stderr.split("\n").filter((l) => l.trim() !== "");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^identity: cannot start: ${variable}: `));
      expect(stderr).not.toMatch(/^\s+at /m);
      for (const secret of keyMaterial) expect(stderr).not.toContain(secret);
      // Refused before anything was written: no development key was generated.
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
