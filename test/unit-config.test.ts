/**
 * The environment → configuration contract: DESIGN.md's defaults, its duration
 * forms, and one clear ConfigError naming the variable for every bad value.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";
import { parseDuration } from "../src/lib/duration.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The ConfigError `loadConfig(env)` throws (fails the test when it throws none). */
function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

function expectRefused(env: Record<string, string>, variable: string): void {
  const error = refusal(env);
  expect(error.variable).toBe(variable);
  expect(error.message.startsWith(`${variable}: `)).toBe(true);
  expect(error.message).not.toContain("\n");
}

describe("loadConfig defaults", () => {
  const config = loadConfig({});

  it("binds 127.0.0.1 on gRPC 50051 and HTTP 8080, role all", () => {
    expect(config).toMatchObject({ host: "127.0.0.1", grpcPort: 50051, httpPort: 8080, serviceRole: "all", grpcUpstream: undefined, production: false });
  });

  it("uses the embedded database under ./.data and the in-process store, with key prefix idn:", () => {
    expect(config).toMatchObject({ databaseUrl: undefined, dataDir: "./.data", kv: { kind: "memory" } });
    expect(loadConfig({ REDIS_URL: "redis://cache:6379" }).kv).toEqual({ kind: "redis", url: "redis://cache:6379", clusterNodes: undefined, keyPrefix: "idn:" });
  });

  it("issues 60m access and 7d refresh tokens, rotates and blacklists, caps sessions at 30d, with a 10s reuse grace", () => {
    expect(config.tokens).toMatchObject({
      accessLifetimeMs: 60 * MINUTE,
      refreshLifetimeMs: 7 * DAY,
      rotateRefreshTokens: true,
      blacklistAfterRotation: true,
      updateLastLogin: true,
      sessionMaxLifetimeMs: 30 * DAY,
      refreshReuseIntervalMs: 10 * SECOND,
      algorithm: "ES256",
      signingKey: undefined,
      verifyKeys: undefined,
      issuer: undefined,
      audience: undefined,
      leewayMs: 0,
    });
    expect(config.serviceApiKeys.size).toBe(0);
    expect(config.adminServiceKeys.size).toBe(0);
  });

  it("sends 6-digit codes living 2m, 5 attempts, 60s between sends, 5 per phone and 20 per IP an hour, region IR, to every region, saying which numbers are registered", () => {
    expect(config.otp).toEqual({ length: 6, ttlMs: 2 * MINUTE, maxAttempts: 5, resendIntervalMs: 60 * SECOND, maxPerPhonePerHour: 5, maxPerIpPerHour: 20, enumerationProtection: false });
    expect(config.phoneDefaultRegion).toBe("IR");
    expect(config.phoneAllowedRegions).toBeUndefined();
  });

  it("logs SMS codes (console), trusts no proxy, allows no other origin, speaks Persian, logs at info", () => {
    expect(config.sms).toEqual({ providers: ["console"], timeoutMs: 5 * SECOND });
    expect(config).toMatchObject({ trustedProxies: [], corsOrigins: [], defaultLocale: "fa", logLevel: "info" });
  });

  it("keeps audit events 180 days", () => {
    expect(config.auditRetentionMs).toBe(180 * DAY);
  });

  it("serves /metrics on 9464", () => {
    expect(config.metricsPort).toBe(9464);
  });

  it("treats an empty variable as unset", () => {
    expect(loadConfig({ ACCESS_TOKEN_LIFETIME: "", GRPC_PORT: " ", REDIS_URL: "" })).toMatchObject({ grpcPort: 50051, kv: { kind: "memory" }, tokens: { accessLifetimeMs: 60 * MINUTE } });
  });
});

describe("loadConfig values", () => {
  it("reads durations as 90s, 30m, 1h, 14d or bare seconds", () => {
    expect(parseDuration("90s")).toBe(90 * SECOND);
    expect(parseDuration("30m")).toBe(30 * MINUTE);
    expect(parseDuration("1h")).toBe(HOUR);
    expect(parseDuration("14d")).toBe(14 * DAY);
    expect(parseDuration("3600")).toBe(HOUR);
    expect(parseDuration("0s")).toBe(0);
    const config = loadConfig({ ACCESS_TOKEN_LIFETIME: "90s", REFRESH_TOKEN_LIFETIME: "14d", SESSION_MAX_LIFETIME: "30m", REFRESH_REUSE_INTERVAL: "0s", OTP_TTL: "300", OTP_RESEND_INTERVAL: "1h", JWT_LEEWAY: "5s" });
    expect(config.tokens).toMatchObject({ accessLifetimeMs: 90 * SECOND, refreshLifetimeMs: 14 * DAY, sessionMaxLifetimeMs: 30 * MINUTE, refreshReuseIntervalMs: 0, leewayMs: 5 * SECOND });
    expect(config.otp).toMatchObject({ ttlMs: 5 * MINUTE, resendIntervalMs: HOUR });
    expect(loadConfig({ AUDIT_RETENTION: "400d" }).auditRetentionMs).toBe(400 * DAY);
    expect(loadConfig({ AUDIT_RETENTION: "24h" }).auditRetentionMs).toBe(DAY);
  });

  it("reads booleans, lists, service keys and the stores", () => {
    const config = loadConfig({
      ROTATE_REFRESH_TOKENS: "false",
      BLACKLIST_AFTER_ROTATION: "0",
      UPDATE_LAST_LOGIN: "no",
      SERVICE_API_KEYS: "billing:0123456789abcdef0123456789abcdef, search:fedcba9876543210fedcba9876543210",
      TRUSTED_PROXIES: "10.0.0.0/8, 127.0.0.1,::1",
      CORS_ORIGINS: "https://a.example,https://b.example",
      DATABASE_URL: "postgres://u@db:5432/identity",
      REDIS_URL: "redis://cache:6379",
      REDIS_KEY_PREFIX: "prod:",
      JWT_ALGORITHM: "EdDSA",
      PHONE_DEFAULT_REGION: "de",
      DEFAULT_LOCALE: "en",
      SERVICE_ROLE: "bridge",
      GRPC_UPSTREAM: "http://identity-grpc.internal:50051",
    });
    expect(config.tokens).toMatchObject({ rotateRefreshTokens: false, blacklistAfterRotation: false, updateLastLogin: false, algorithm: "EdDSA" });
    expect([...config.serviceApiKeys]).toEqual([["billing", "0123456789abcdef0123456789abcdef"], ["search", "fedcba9876543210fedcba9876543210"]]);
    expect(config.adminServiceKeys).toEqual(new Set());
    expect(config).toMatchObject({
      trustedProxies: ["10.0.0.0/8", "127.0.0.1", "::1"],
      corsOrigins: ["https://a.example", "https://b.example"],
      databaseUrl: "postgres://u@db:5432/identity",
      kv: { kind: "redis", url: "redis://cache:6379", clusterNodes: undefined, keyPrefix: "prod:" },
      phoneDefaultRegion: "DE",
      defaultLocale: "en",
      serviceRole: "bridge",
      grpcUpstream: "http://identity-grpc.internal:50051",
    });
    expect(loadConfig({ REDIS_CLUSTER_NODES: "r1:7000,r2:7001" }).kv).toMatchObject({ kind: "redis", clusterNodes: ["r1:7000", "r2:7001"] });
    expect(loadConfig({ CORS_ORIGINS: "http://localhost:3000, https://APP.example.com,http://[::1]:8081" }).corsOrigins).toEqual(["http://localhost:3000", "https://APP.example.com", "http://[::1]:8081"]);
    const regions = loadConfig({ PHONE_ALLOWED_REGIONS: "ir, ae ,tr", ENUMERATION_PROTECTION: "true" });
    expect([...regions.phoneAllowedRegions!]).toEqual(["IR", "AE", "TR"]);
    expect(regions.otp.enumerationProtection).toBe(true);
  });

  it("reads service keys with the admin scope: name:key:admin may call AdminService, name:key Introspect only", () => {
    const config = loadConfig({ SERVICE_API_KEYS: "billing:0123456789abcdef0123456789abcdef, support:fedcba9876543210fedcba9876543210:admin" });
    expect([...config.serviceApiKeys]).toEqual([["billing", "0123456789abcdef0123456789abcdef"], ["support", "fedcba9876543210fedcba9876543210"]]);
    expect(config.adminServiceKeys).toEqual(new Set(["support"]));
  });
});

describe("METRICS_PORT", () => {
  it("is a port, 0 for a free one, or off (any case) for no metrics at all", () => {
    expect(loadConfig({ METRICS_PORT: "9100" }).metricsPort).toBe(9100);
    expect(loadConfig({ METRICS_PORT: "0" }).metricsPort).toBe(0);
    expect(loadConfig({ METRICS_PORT: "0", HTTP_PORT: "0" }).metricsPort).toBe(0);
    expect(loadConfig({ METRICS_PORT: "off" }).metricsPort).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: "OFF" }).metricsPort).toBeUndefined();
  });

  it.each([
    ["HTTP_PORT's own port", { METRICS_PORT: "8080" }],
    ["HTTP_PORT's own port, both set", { METRICS_PORT: "9000", HTTP_PORT: "9000" }],
    ["not a port", { METRICS_PORT: "metrics" }],
    ["a port above 65535", { METRICS_PORT: "70000" }],
    ["a negative port", { METRICS_PORT: "-1" }],
  ])("refuses %s, naming METRICS_PORT", (_what, env) => {
    expectRefused(env, "METRICS_PORT");
  });
});

describe("loadConfig refusals name the variable", () => {
  it.each([
    ["a bad duration", { ACCESS_TOKEN_LIFETIME: "banana" }, "ACCESS_TOKEN_LIFETIME"],
    ["a negative duration", { OTP_TTL: "-5s" }, "OTP_TTL"],
    ["a duration with an unknown unit", { REFRESH_REUSE_INTERVAL: "10w" }, "REFRESH_REUSE_INTERVAL"],
    ["a port above 65535", { GRPC_PORT: "70000" }, "GRPC_PORT"],
    ["a port that is not a number", { HTTP_PORT: "http" }, "HTTP_PORT"],
    ["a fractional port", { GRPC_PORT: "80.5" }, "GRPC_PORT"],
    ["a bad boolean", { ROTATE_REFRESH_TOKENS: "maybe" }, "ROTATE_REFRESH_TOKENS"],
    ["an unknown JWT_ALGORITHM", { JWT_ALGORITHM: "RS512" }, "JWT_ALGORITHM"],
    ["JWT_ALGORITHM=none", { JWT_ALGORITHM: "none" }, "JWT_ALGORITHM"],
    ["SMS_PROVIDER=webhook without a URL", { SMS_PROVIDER: "webhook" }, "SMS_WEBHOOK_URL"],
    ["an unknown SMS provider", { SMS_PROVIDER: "carrier-pigeon" }, "SMS_PROVIDER"],
    ["a webhook URL that is not http(s)", { SMS_PROVIDER: "webhook", SMS_WEBHOOK_URL: "ftp://sms.example/send" }, "SMS_WEBHOOK_URL"],
    ["SERVICE_ROLE=bridge without GRPC_UPSTREAM", { SERVICE_ROLE: "bridge" }, "GRPC_UPSTREAM"],
    ["an unknown SERVICE_ROLE", { SERVICE_ROLE: "worker" }, "SERVICE_ROLE"],
    ["an HS256 secret under 32 bytes", { JWT_ALGORITHM: "HS256", JWT_SIGNING_KEY: "x".repeat(31) }, "JWT_SIGNING_KEY"],
    ["a DATABASE_URL that is not PostgreSQL", { DATABASE_URL: "mysql://db/identity" }, "DATABASE_URL"],
    ["a REDIS_URL that is not Redis", { REDIS_URL: "http://cache:6379" }, "REDIS_URL"],
    ["a cluster node without a port", { REDIS_CLUSTER_NODES: "r1:7000,r2" }, "REDIS_CLUSTER_NODES"],
    ["a key prefix with a hash tag", { REDIS_KEY_PREFIX: "{idn}:" }, "REDIS_KEY_PREFIX"],
    ["a service key without a name", { SERVICE_API_KEYS: "0123456789abcdef0123456789abcdef" }, "SERVICE_API_KEYS"],
    ["a short service key", { SERVICE_API_KEYS: "billing:short" }, "SERVICE_API_KEYS"],
    ["a service key scope other than admin", { SERVICE_API_KEYS: "billing:0123456789abcdef0123456789abcdef:root" }, "SERVICE_API_KEYS"],
    ["a service key with a colon in it", { SERVICE_API_KEYS: "billing:0123456789abcdef:0123456789abcdef:admin" }, "SERVICE_API_KEYS"],
    ["an empty scope", { SERVICE_API_KEYS: "billing:0123456789abcdef0123456789abcdef:" }, "SERVICE_API_KEYS"],
    ["one service named twice", { SERVICE_API_KEYS: "billing:0123456789abcdef0123456789abcdef:admin,billing:fedcba9876543210fedcba9876543210" }, "SERVICE_API_KEYS"],
    ["an OTP length under 4", { OTP_LENGTH: "3" }, "OTP_LENGTH"],
    ["zero attempts", { OTP_MAX_ATTEMPTS: "0" }, "OTP_MAX_ATTEMPTS"],
    ["an OTP_TTL under a second", { OTP_TTL: "0s" }, "OTP_TTL"],
    ["an access lifetime under a second", { ACCESS_TOKEN_LIFETIME: "0" }, "ACCESS_TOKEN_LIFETIME"],
    ["a refresh lifetime shorter than the access lifetime", { ACCESS_TOKEN_LIFETIME: "2h", REFRESH_TOKEN_LIFETIME: "1h" }, "REFRESH_TOKEN_LIFETIME"],
    ["a session cap shorter than the access lifetime", { SESSION_MAX_LIFETIME: "30m" }, "SESSION_MAX_LIFETIME"],
    ["an audit retention that is not a duration", { AUDIT_RETENTION: "half a year" }, "AUDIT_RETENTION"],
    ["an audit retention under a day (bare seconds)", { AUDIT_RETENTION: "180" }, "AUDIT_RETENTION"],
    ["a region that is not two letters", { PHONE_DEFAULT_REGION: "IRN" }, "PHONE_DEFAULT_REGION"],
    ["a region without phone numbers", { PHONE_DEFAULT_REGION: "ZZ" }, "PHONE_DEFAULT_REGION"],
    ["an unknown allowed region", { PHONE_ALLOWED_REGIONS: "IR,XX" }, "PHONE_ALLOWED_REGIONS"],
    ["allowed regions without the default region", { PHONE_ALLOWED_REGIONS: "AE,TR" }, "PHONE_ALLOWED_REGIONS"],
    ["a bad ENUMERATION_PROTECTION", { ENUMERATION_PROTECTION: "sometimes" }, "ENUMERATION_PROTECTION"],
    ["an unknown locale", { DEFAULT_LOCALE: "de" }, "DEFAULT_LOCALE"],
    ["an unknown log level", { LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    ["a trusted proxy that is not an address", { TRUSTED_PROXIES: "10.0.0.1,proxy.internal" }, "TRUSTED_PROXIES"],
    ["a trusted proxy range with a bad prefix length", { TRUSTED_PROXIES: "10.0.0.0/33" }, "TRUSTED_PROXIES"],
    ["BLACKLIST_AFTER_ROTATION=false while refresh tokens rotate", { BLACKLIST_AFTER_ROTATION: "false" }, "BLACKLIST_AFTER_ROTATION"],
    ["CORS_ORIGINS=*", { CORS_ORIGINS: "*" }, "CORS_ORIGINS"],
    ["an origin with a trailing slash", { CORS_ORIGINS: "https://app.example.com/" }, "CORS_ORIGINS"],
    ["an origin without a scheme", { CORS_ORIGINS: "app.example.com" }, "CORS_ORIGINS"],
    ["an origin with a path", { CORS_ORIGINS: "https://a.example,https://app.example.com/app" }, "CORS_ORIGINS"],
    ["an origin with a default port, which browsers never send", { CORS_ORIGINS: "https://app.example.com:443" }, "CORS_ORIGINS"],
    ["an origin that is not http(s)", { CORS_ORIGINS: "ftp://app.example.com" }, "CORS_ORIGINS"],
    ["the null origin", { CORS_ORIGINS: "null" }, "CORS_ORIGINS"],
    ["an origin with credentials", { CORS_ORIGINS: "https://user@app.example.com" }, "CORS_ORIGINS"],
  ])("refuses %s", (_what, env, variable) => {
    expectRefused(env, variable);
  });
});

describe("loadConfig with NODE_ENV=production", () => {
  const production = {
    NODE_ENV: "production",
    JWT_SIGNING_KEY: "-----BEGIN PRIVATE KEY-----\nnot parsed here\n-----END PRIVATE KEY-----",
    SMS_PROVIDER: "webhook",
    SMS_WEBHOOK_URL: "https://sms.example/send",
    SMS_WEBHOOK_SECRET: "a-webhook-secret",
    SERVICE_API_KEYS: "billing:0123456789abcdef0123456789abcdef",
    DATABASE_URL: "postgres://identity@db/identity",
    REDIS_URL: "redis://cache:6379",
  };

  it("accepts a complete production configuration", () => {
    expect(loadConfig(production).production).toBe(true);
  });

  it("asks for SMS_WEBHOOK_SECRET only when SMS_PROVIDER names webhook", () => {
    const smsir = { SMS_PROVIDER: "smsir", SMSIR_API_KEY: "smsir-key", SMSIR_TEMPLATE_ID: "100000", SMS_WEBHOOK_SECRET: "" };
    expect(loadConfig({ ...production, ...smsir }).sms.providers).toEqual(["smsir"]);
  });

  it.each([
    ["a generated key (no JWT_SIGNING_KEY)", { JWT_SIGNING_KEY: "" }, "JWT_SIGNING_KEY"],
    ["console SMS", { SMS_PROVIDER: "console" }, "SMS_PROVIDER"],
    ["console SMS anywhere in a failover list", { SMS_PROVIDER: "webhook,console" }, "SMS_PROVIDER"],
    ["a webhook without its secret behind another provider", { SMS_PROVIDER: "twilio,webhook", TWILIO_ACCOUNT_SID: "AC1", TWILIO_AUTH_TOKEN: "t", TWILIO_FROM: "+15005550006", SMS_WEBHOOK_SECRET: "" }, "SMS_WEBHOOK_SECRET"],
    ["a webhook without its secret", { SMS_WEBHOOK_SECRET: "" }, "SMS_WEBHOOK_SECRET"],
    ["an open Introspect (no SERVICE_API_KEYS)", { SERVICE_API_KEYS: "" }, "SERVICE_API_KEYS"],
    ["the embedded database", { DATABASE_URL: "" }, "DATABASE_URL"],
    ["the in-process store", { REDIS_URL: "" }, "REDIS_URL"],
    ["a weak HS256 secret", { JWT_ALGORITHM: "HS256", JWT_SIGNING_KEY: "short-secret" }, "JWT_SIGNING_KEY"],
  ])("refuses %s", (_what, change, variable) => {
    expectRefused({ ...production, ...change }, variable);
  });
});

describe("SMS providers in the configuration", () => {
  const KAVENEGAR = { KAVENEGAR_API_KEY: "kav-key-31f0a9", KAVENEGAR_TEMPLATE: "identity-otp" };
  const SMSIR = { SMSIR_API_KEY: "smsir-key-7d2e1c", SMSIR_TEMPLATE_ID: "100000" };
  const TWILIO = { TWILIO_ACCOUNT_SID: "AC0123456789abcdef0123456789abcdef", TWILIO_AUTH_TOKEN: "twilio-token-c0ffee", TWILIO_FROM: "+15005550006" };
  const ALL = { SMS_PROVIDER: "kavenegar,smsir,twilio", ...KAVENEGAR, ...SMSIR, ...TWILIO };

  it("reads a failover list in order, each provider with its settings and the public API addresses", () => {
    expect(loadConfig({ ...ALL, SMS_TIMEOUT: "2500ms" }).sms).toEqual({
      providers: ["kavenegar", "smsir", "twilio"],
      timeoutMs: 2500,
      kavenegar: { apiKey: "kav-key-31f0a9", template: "identity-otp", sender: undefined, baseUrl: "https://api.kavenegar.com" },
      smsir: { apiKey: "smsir-key-7d2e1c", templateId: 100000, codeParam: "CODE", baseUrl: "https://api.sms.ir" },
      twilio: { accountSid: TWILIO.TWILIO_ACCOUNT_SID, authToken: "twilio-token-c0ffee", from: "+15005550006", messagingServiceSid: undefined, baseUrl: "https://api.twilio.com" },
    });
  });

  it("takes a Kavenegar sender instead of a template, a Twilio messaging service instead of a From, other base URLs and code parameter", () => {
    const sms = loadConfig({
      SMS_PROVIDER: " twilio , kavenegar,smsir ",
      KAVENEGAR_API_KEY: "k",
      KAVENEGAR_SENDER: "10004346",
      KAVENEGAR_BASE_URL: "http://127.0.0.1:9001",
      ...SMSIR,
      SMSIR_CODE_PARAM: "OTP",
      SMSIR_BASE_URL: "http://127.0.0.1:9002",
      TWILIO_ACCOUNT_SID: "AC1",
      TWILIO_AUTH_TOKEN: "t",
      TWILIO_MESSAGING_SERVICE_SID: "MG1",
      TWILIO_BASE_URL: "http://127.0.0.1:9003",
    }).sms;
    expect(sms.providers).toEqual(["twilio", "kavenegar", "smsir"]);
    expect(sms.kavenegar).toEqual({ apiKey: "k", template: undefined, sender: "10004346", baseUrl: "http://127.0.0.1:9001" });
    expect(sms.smsir).toMatchObject({ codeParam: "OTP", baseUrl: "http://127.0.0.1:9002" });
    expect(sms.twilio).toMatchObject({ from: undefined, messagingServiceSid: "MG1", baseUrl: "http://127.0.0.1:9003" });
  });

  it("needs no variable of a provider it does not name", () => {
    expect(loadConfig({ SMS_PROVIDER: "console", KAVENEGAR_API_KEY: "unused" }).sms).toEqual({ providers: ["console"], timeoutMs: 5 * SECOND });
  });

  it.each([
    ["an unknown provider in a list", { ...ALL, SMS_PROVIDER: "kavenegar,carrier-pigeon" }, "SMS_PROVIDER"],
    ["a provider named twice", { ...ALL, SMS_PROVIDER: "smsir,kavenegar,smsir" }, "SMS_PROVIDER"],
    ["a list of nothing", { SMS_PROVIDER: " , " }, "SMS_PROVIDER"],
    ["a bad SMS_TIMEOUT", { SMS_TIMEOUT: "soon" }, "SMS_TIMEOUT"],
    ["SMS_TIMEOUT=0", { SMS_TIMEOUT: "0s" }, "SMS_TIMEOUT"],
    ["kavenegar without its key", { ...ALL, KAVENEGAR_API_KEY: "" }, "KAVENEGAR_API_KEY"],
    ["kavenegar with neither template nor sender", { ...ALL, KAVENEGAR_TEMPLATE: "" }, "KAVENEGAR_TEMPLATE"],
    ["a Kavenegar base URL that is not http(s)", { ...ALL, KAVENEGAR_BASE_URL: "ftp://api.kavenegar.com" }, "KAVENEGAR_BASE_URL"],
    ["smsir without its key", { ...ALL, SMSIR_API_KEY: "" }, "SMSIR_API_KEY"],
    ["smsir without a template id", { ...ALL, SMSIR_TEMPLATE_ID: "" }, "SMSIR_TEMPLATE_ID"],
    ["an SMS.ir template id that is not a number", { ...ALL, SMSIR_TEMPLATE_ID: "otp-template" }, "SMSIR_TEMPLATE_ID"],
    ["an SMS.ir base URL that is not a URL", { ...ALL, SMSIR_BASE_URL: "api.sms.ir" }, "SMSIR_BASE_URL"],
    ["twilio without its account SID", { ...ALL, TWILIO_ACCOUNT_SID: "" }, "TWILIO_ACCOUNT_SID"],
    ["twilio without its auth token", { ...ALL, TWILIO_AUTH_TOKEN: "" }, "TWILIO_AUTH_TOKEN"],
    ["twilio with neither From nor messaging service", { ...ALL, TWILIO_FROM: "" }, "TWILIO_FROM"],
    ["webhook in a list without its URL", { ...ALL, SMS_PROVIDER: "twilio,webhook" }, "SMS_WEBHOOK_URL"],
  ])("refuses %s, naming the variable and echoing no credential", (_what, env, variable) => {
    expectRefused(env, variable);
    const message = refusal(env).message;
    for (const value of [KAVENEGAR.KAVENEGAR_API_KEY, SMSIR.SMSIR_API_KEY, TWILIO.TWILIO_AUTH_TOKEN]) expect(message).not.toContain(value);
  });
});

describe("SMS texts in the configuration", () => {
  it("has a Persian and an English default that give the code and how long it lives, and no WebOTP line", () => {
    expect(loadConfig({}).smsText).toEqual({
      templates: { fa: "کد تأیید شما: {code}\nاین کد تا {minutes} دقیقه معتبر است.", en: "Your verification code: {code}\nIt expires in {minutes} minutes." },
      webOtpDomain: undefined,
    });
  });

  it("takes both templates, a written \\n as a line break, and the WebOTP host in lower case", () => {
    const { smsText } = loadConfig({ SMS_TEMPLATE_FA: "کد {code}\\n{minutes} دقیقه", SMS_TEMPLATE_EN: "{code} is your Acme code", SMS_WEBOTP_DOMAIN: "Login.Example.com" });
    expect(smsText).toEqual({ templates: { fa: "کد {code}\n{minutes} دقیقه", en: "{code} is your Acme code" }, webOtpDomain: "login.example.com" });
  });

  it.each([
    ["a Persian template without {code}", { SMS_TEMPLATE_FA: "کد شما آماده است" }, "SMS_TEMPLATE_FA"],
    ["an English template without {code}", { SMS_TEMPLATE_EN: "Your code expires in {minutes} minutes" }, "SMS_TEMPLATE_EN"],
    ["an unknown placeholder", { SMS_TEMPLATE_EN: "Hi {name}, your code: {code}" }, "SMS_TEMPLATE_EN"],
    ["a placeholder misspelt with spaces", { SMS_TEMPLATE_FA: "کد: { code }" }, "SMS_TEMPLATE_FA"],
    ["a WebOTP domain with a scheme", { SMS_WEBOTP_DOMAIN: "https://login.example.com" }, "SMS_WEBOTP_DOMAIN"],
    ["a WebOTP domain with a path", { SMS_WEBOTP_DOMAIN: "login.example.com/verify" }, "SMS_WEBOTP_DOMAIN"],
    ["a WebOTP domain with a port", { SMS_WEBOTP_DOMAIN: "login.example.com:8443" }, "SMS_WEBOTP_DOMAIN"],
    ["a WebOTP domain that is an IP address", { SMS_WEBOTP_DOMAIN: "192.0.2.10" }, "SMS_WEBOTP_DOMAIN"],
    ["a WebOTP domain with an empty label", { SMS_WEBOTP_DOMAIN: "login..example.com" }, "SMS_WEBOTP_DOMAIN"],
  ])("refuses %s, naming the variable", (_what, env, variable) => {
    expectRefused(env, variable);
  });

  it("says which placeholders there are when it refuses one", () => {
    expect(refusal({ SMS_TEMPLATE_EN: "Hi {name}, your code: {code}" }).message).toBe("SMS_TEMPLATE_EN: {name} is not a placeholder: use {code} and {minutes}");
  });
});

describe("npm start with a bad value", () => {
  /** Runs src/main.ts as `npm start` does, with `env` added; resolves when it exits. */
  async function start(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const dataDir = await mkdtemp(join(tmpdir(), "identity-config-"));
    try {
      const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
        cwd: process.cwd(),
        env: { ...process.env, NODE_ENV: "", DATA_DIR: dataDir, GRPC_PORT: "0", HTTP_PORT: "0", METRICS_PORT: "0", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 50_000);
      const [code] = (await once(child, "exit")) as [number | null];
      clearTimeout(timer);
      return { code, stdout, stderr };
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }

  it.each([
    ["ACCESS_TOKEN_LIFETIME", "banana"],
    ["TRUSTED_PROXIES", "proxy.internal"],
    ["JWT_SIGNING_KEY", "s3cr3t-k3y-m4t3r14l"],
    ["CORS_ORIGINS", "app.example.com"],
    ["SMS_TEMPLATE_EN", "Your code is on its way"],
    ["SMS_WEBOTP_DOMAIN", "https://login.example.com/"],
  ])("exits non-zero with one line naming %s", async (variable, value) => {
    const { code, stdout, stderr } = await start({ [variable]: value });
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(stdout).toBe("");
    const lines = stderr.split("\n").filter((l) => l.trim() !== "");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(stderr).not.toMatch(/^\s+at /m);
    // A key is never echoed, even a broken one.
    if (variable === "JWT_SIGNING_KEY") expect(stderr).not.toContain(value);
  }, 60_000); // a child process compiling src/main.ts is slow on a busy machine
});
