/**
 * The environment, parsed once into a typed, validated configuration. This is the
 * only module that reads `process.env`. A bad value stops start-up with one line
 * naming the variable (ConfigError).
 */
import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { isSupportedCountry } from "libphonenumber-js/max";
import { parseDuration } from "./lib/duration.js";

export type ServiceRole = "all" | "grpc" | "bridge";
export type JwtAlgorithm = "HS256" | "ES256" | "EdDSA" | "RS256";
export type Locale = "fa" | "en";

/** Where the key-value state (codes, limits, session state) lives: in this process,
 * or a Redis every instance shares (one server, or a cluster given by some nodes). */
export type KvConfig = { kind: "memory" } | { kind: "redis"; url: string | undefined; clusterNodes: string[] | undefined; keyPrefix: string };

export interface Config {
  production: boolean;
  host: string;
  grpcPort: number;
  httpPort: number;
  databaseUrl: string | undefined;
  dataDir: string;
  /** The store, decided once from REDIS_URL / REDIS_CLUSTER_NODES / REDIS_KEY_PREFIX. */
  kv: KvConfig;
  serviceRole: ServiceRole;
  grpcUpstream: string | undefined;
  /** Processes sharing the ports (node:cluster); 1 runs in this process alone. */
  workers: number;
  tokens: {
    accessLifetimeMs: number;
    refreshLifetimeMs: number;
    rotateRefreshTokens: boolean;
    blacklistAfterRotation: boolean;
    updateLastLogin: boolean;
    sessionMaxLifetimeMs: number;
    refreshReuseIntervalMs: number;
    algorithm: JwtAlgorithm;
    /** Secret (HS256) or private key (PEM/JWK); undefined → generated dev key. */
    signingKey: string | undefined;
    verifyKeys: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
    leewayMs: number;
  };
  /** name → key of services allowed to call Introspect; empty → open in development. */
  serviceApiKeys: Map<string, string>;
  /** Names of the keys with the admin scope (`name:key:admin`): they may call AdminService too. */
  adminServiceKeys: ReadonlySet<string>;
  otp: {
    length: number;
    ttlMs: number;
    maxAttempts: number;
    resendIntervalMs: number;
    maxPerPhonePerHour: number;
    maxPerIpPerHour: number;
    /** send-otp answers alike for known and unknown numbers; the difference shows only
     * to whoever verifies the code sent to the phone. */
    enumerationProtection: boolean;
  };
  phoneDefaultRegion: string;
  /** Regions whose numbers may receive codes; undefined → every region. */
  phoneAllowedRegions: ReadonlySet<string> | undefined;
  sms: SmsConfig;
  /** The words around a code, for the providers that send our text. */
  smsText: SmsTextConfig;
  trustedProxies: string[];
  corsOrigins: string[];
  defaultLocale: Locale;
  logLevel: string;
  /** How long audit events are kept: flush-expired deletes older ones. */
  auditRetentionMs: number;
  /** Where Prometheus scrapes `GET /metrics` (bound to HOST); undefined → METRICS_PORT=off. */
  metricsPort: number | undefined;
  /** OpenTelemetry traces: on only when an OTLP endpoint is set. The SDK reads the other
   * standard OTEL_* variables itself (protocol, headers, sampler, service name). */
  tracing: boolean;
  /** TLS_CERT_FILE + TLS_KEY_FILE (+ TLS_CLIENT_CA_FILE: mTLS on gRPC); undefined → plaintext. */
  tls: ServerTlsFiles | undefined;
  /** SERVICE_ROLE=bridge's client to an https:// GRPC_UPSTREAM: the CA to verify it with
   * (GRPC_UPSTREAM_CA_FILE; none → the system's), the certificate to present. */
  upstreamTls: TlsFiles | undefined;
  /** The Django system's SimpleJWT refresh tokens, exchanged once each at Refresh;
   * undefined (no LEGACY_SIMPLEJWT_SIGNING_KEY): none is. */
  legacySimpleJwt: LegacySimpleJwtConfig | undefined;
}

export interface LegacySimpleJwtConfig {
  /** LEGACY_SIMPLEJWT_SIGNING_KEY: the HS256 secret Django signed with (its UTF-8 bytes). */
  signingKey: string;
  /** LEGACY_SIMPLEJWT_UNTIL: from this instant on, no legacy token is exchanged; undefined: no end. */
  untilMs: number | undefined;
}

/** A file and the variable that named it (every refusal names the variable). */
export interface TlsFile {
  variable: string;
  path: string;
}

/** A certificate chain with its key (both or neither), and CA certificates to trust. */
export interface TlsFiles {
  cert?: TlsFile;
  key?: TlsFile;
  ca?: TlsFile;
}

/** The servers' certificate and key, and the CA gRPC callers' certificates must chain to. */
export interface ServerTlsFiles extends TlsFiles {
  cert: TlsFile;
  key: TlsFile;
}

export const SMS_PROVIDERS = ["console", "webhook", "kavenegar", "smsir", "twilio"] as const;
export type SmsProviderName = (typeof SMS_PROVIDERS)[number];

/** SMS_PROVIDER's list, in failover order, with the settings of each provider named
 * there (and only those: a provider not named needs none of its variables). */
export interface SmsConfig {
  providers: readonly SmsProviderName[];
  /** SMS_TIMEOUT: how long one provider may take to answer, per attempt. */
  timeoutMs: number;
  webhook?: { url: string; secret: string | undefined };
  kavenegar?: { apiKey: string; template: string | undefined; sender: string | undefined; baseUrl: string };
  smsir?: { apiKey: string; templateId: number; codeParam: string; baseUrl: string };
  twilio?: { accountSid: string; authToken: string; from: string | undefined; messagingServiceSid: string | undefined; baseUrl: string };
}

/**
 * SMS_TEMPLATE_FA / SMS_TEMPLATE_EN (the text of a code SMS in each language, with
 * `{code}` and `{minutes}`) and SMS_WEBOTP_DOMAIN (the host of the WebOTP line).
 * Template providers (Kavenegar lookup, SMS.ir verify) word their own texts.
 */
export interface SmsTextConfig {
  templates: Readonly<Record<Locale, string>>;
  webOtpDomain: string | undefined;
}

/** What a template may say in braces: anything else is a typo that would reach phones. */
export const SMS_TEMPLATE_PLACEHOLDERS = ["code", "minutes"] as const;

const DEFAULT_SMS_TEMPLATES: Readonly<Record<Locale, string>> = {
  fa: "کد تأیید شما: {code}\nاین کد تا {minutes} دقیقه معتبر است.",
  en: "Your verification code: {code}\nIt expires in {minutes} minutes.",
};

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = "ConfigError";
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const DAY_MS = 86_400_000;

/** Reads one variable; empty strings count as unset. */
function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function duration(env: Env, name: string, fallback: string): number {
  const text = read(env, name) ?? fallback;
  const ms = parseDuration(text);
  if (ms === undefined) throw new ConfigError(name, `"${text}" is not a duration (e.g. 90s, 30m, 1h, 14d, or seconds)`);
  return ms;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = read(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new ConfigError(name, `"${text}" must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const text = read(env, name)?.toLowerCase();
  if (text === undefined) return fallback;
  if (["true", "1", "yes", "on"].includes(text)) return true;
  if (["false", "0", "no", "off"].includes(text)) return false;
  throw new ConfigError(name, `"${text}" must be true or false`);
}

function oneOf<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const text = read(env, name) ?? fallback;
  const found = choices.find((c) => c === text);
  if (found === undefined) throw new ConfigError(name, `"${text}" must be one of ${choices.join(", ")}`);
  return found;
}

function list(env: Env, name: string): string[] {
  return (read(env, name) ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/**
 * Origins as browsers send them (`scheme://host[:port]`, no path, no default port),
 * so that each entry can match: anything else would start and allow nothing. `*` is
 * refused too: a deployment names the front ends that may call it.
 */
function origins(env: Env, name: string): string[] {
  const entries = list(env, name);
  for (const entry of entries) {
    if (entry === "*") throw new ConfigError(name, "* is not allowed: list the origins of your front ends (scheme://host[:port])");
    let origin: string | undefined;
    try {
      const parsed = new URL(entry);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") origin = parsed.origin;
    } catch {
      // not a URL at all: refused below
    }
    // ASCII case aside (scheme and host are case-insensitive), the entry must be its own origin.
    if (origin === undefined || origin !== entry.replace(/[A-Z]/g, (c) => c.toLowerCase())) {
      const hint = origin === undefined ? "" : ` (did you mean ${origin}?)`;
      throw new ConfigError(name, `"${entry}" is not an origin: scheme://host[:port] with http or https, no path${hint}`);
    }
  }
  return entries;
}

/** Addresses or CIDR ranges (TRUSTED_PROXIES), checked here so a typo stops start-up
 * with one line instead of failing later inside the server. */
function addresses(env: Env, name: string): string[] {
  const entries = list(env, name);
  for (const entry of entries) {
    const [address = "", bits, ...rest] = entry.split("/");
    const family = isIP(address);
    const ok = family !== 0 && rest.length === 0 && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32)));
    if (!ok) throw new ConfigError(name, `"${entry}" is not an IP address or CIDR range`);
  }
  return entries;
}

function port(env: Env, name: string, fallback: number): number {
  return integer(env, name, fallback, 0, 65535);
}

/** METRICS_PORT: a port (0 picks a free one), or `off`. Never the bridge's own port:
 * /metrics is for the scraper on the operators' network, not for the public. */
function metricsPort(env: Env, httpPort: number): number | undefined {
  if (read(env, "METRICS_PORT")?.toLowerCase() === "off") return undefined;
  const value = port(env, "METRICS_PORT", 9464);
  if (value !== 0 && value === httpPort) throw new ConfigError("METRICS_PORT", `must differ from HTTP_PORT (${httpPort}): metrics are never served on the public port`);
  return value;
}

/** Tracing is on when an OTLP endpoint is named and the SDK is not disabled (the
 * standard OTEL_SDK_DISABLED). */
function tracing(env: Env): boolean {
  if (read(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return false;
  return url(env, "OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]) !== undefined || url(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ["http:", "https:"]) !== undefined;
}

function url(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const text = read(env, name);
  if (text === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new ConfigError(name, "is not a URL");
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.map((p) => p.replace(":", "://")).join(" or ")}`);
  }
  return text;
}

/** An instant with its date, time and offset (Z or ±hh:mm): a bare date or a time
 * without a zone would mean different instants on different hosts. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i;

/**
 * LEGACY_SIMPLEJWT_SIGNING_KEY is taken as Django has it: SimpleJWT signs with any
 * non-empty SIGNING_KEY (by default SECRET_KEY, 50 characters when Django made it,
 * but Django only warns about shorter ones), and refusing a short one here would log
 * out everyone it signed for. It only ever verifies, never signs.
 */
function legacySimpleJwt(env: Env): LegacySimpleJwtConfig | undefined {
  // Trimmed as every variable is: Django's generated keys hold no whitespace, and a
  // stray newline from an env file would otherwise refuse every legacy token.
  const signingKey = read(env, "LEGACY_SIMPLEJWT_SIGNING_KEY");
  const untilText = read(env, "LEGACY_SIMPLEJWT_UNTIL");
  let untilMs: number | undefined;
  if (untilText !== undefined) {
    untilMs = ISO_INSTANT.test(untilText) ? Date.parse(untilText) : Number.NaN;
    if (Number.isNaN(untilMs)) throw new ConfigError("LEGACY_SIMPLEJWT_UNTIL", `"${untilText}" is not an ISO 8601 instant with its offset, such as 2026-07-01T00:00:00Z`);
  }
  if (signingKey === undefined) return undefined;
  return { signingKey, untilMs };
}

/** The shortest HS256 secret accepted, for JWT_SIGNING_KEY and every secret among JWT_VERIFY_KEYS. */
export const MIN_HS256_SECRET_BYTES = 32;

/** Why an HS256 secret cannot be used, or undefined: the one rule, applied here and by the key ring. */
export function hs256SecretProblem(secret: string | Uint8Array): string | undefined {
  const bytes = typeof secret === "string" ? Buffer.byteLength(secret) : secret.byteLength;
  return bytes < MIN_HS256_SECRET_BYTES ? `an HS256 secret must be at least ${MIN_HS256_SECRET_BYTES} bytes` : undefined;
}

/**
 * SMS_WEBHOOK_URL: an absolute http(s) URL. The one rule, applied here and by the
 * webhook sender itself; the value is never echoed (it may hold the gateway's credentials).
 */
export function parseWebhookUrl(text: string | undefined): URL {
  if (text === undefined) throw new ConfigError("SMS_WEBHOOK_URL", "is required when SMS_PROVIDER names webhook");
  const parsed = URL.canParse(text) ? new URL(text) : undefined;
  if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new ConfigError("SMS_WEBHOOK_URL", "must be an absolute http(s) URL");
  }
  return parsed;
}

/** A provider named in SMS_PROVIDER needs this variable; the value is never echoed. */
function required(env: Env, name: string, provider: SmsProviderName): string {
  const value = read(env, name);
  if (value === undefined) throw new ConfigError(name, `is required when SMS_PROVIDER names ${provider}`);
  return value;
}

/** SMS_PROVIDER: one provider or a failover list, each named once. */
function smsProviders(env: Env): SmsProviderName[] {
  const names = read(env, "SMS_PROVIDER") === undefined ? ["console"] : list(env, "SMS_PROVIDER");
  const providers: SmsProviderName[] = [];
  for (const name of names) {
    const provider = SMS_PROVIDERS.find((p) => p === name);
    if (provider === undefined) throw new ConfigError("SMS_PROVIDER", `"${name}" is not a provider: use ${SMS_PROVIDERS.join(", ")}, or several of them comma-separated`);
    if (providers.includes(provider)) throw new ConfigError("SMS_PROVIDER", `names ${provider} twice`);
    providers.push(provider);
  }
  if (providers.length === 0) throw new ConfigError("SMS_PROVIDER", `names no provider: use ${SMS_PROVIDERS.join(", ")}`);
  return providers;
}

function smsConfig(env: Env): SmsConfig {
  const providers = smsProviders(env);
  const named = (provider: SmsProviderName) => providers.includes(provider);
  const base = (name: string, fallback: string) => url(env, name, ["http:", "https:"]) ?? fallback;
  const config: SmsConfig = { providers, timeoutMs: duration(env, "SMS_TIMEOUT", "5s") };
  if (config.timeoutMs < 1) throw new ConfigError("SMS_TIMEOUT", "must be more than 0");
  if (named("webhook")) {
    config.webhook = { url: parseWebhookUrl(read(env, "SMS_WEBHOOK_URL")).href, secret: read(env, "SMS_WEBHOOK_SECRET") };
  }
  if (named("kavenegar")) {
    const apiKey = required(env, "KAVENEGAR_API_KEY", "kavenegar");
    const template = read(env, "KAVENEGAR_TEMPLATE");
    const sender = read(env, "KAVENEGAR_SENDER");
    if (template === undefined && sender === undefined) {
      throw new ConfigError("KAVENEGAR_TEMPLATE", "or KAVENEGAR_SENDER is required when SMS_PROVIDER names kavenegar (a verify/lookup template, or the sender line for sms/send)");
    }
    config.kavenegar = { apiKey, template, sender, baseUrl: base("KAVENEGAR_BASE_URL", "https://api.kavenegar.com") };
  }
  if (named("smsir")) {
    const apiKey = required(env, "SMSIR_API_KEY", "smsir");
    const templateId = required(env, "SMSIR_TEMPLATE_ID", "smsir");
    // SMS.ir takes the id as a JSON number.
    if (!/^[1-9]\d{0,14}$/.test(templateId)) throw new ConfigError("SMSIR_TEMPLATE_ID", "must be the template's numeric id");
    config.smsir = { apiKey, templateId: Number(templateId), codeParam: read(env, "SMSIR_CODE_PARAM") ?? "CODE", baseUrl: base("SMSIR_BASE_URL", "https://api.sms.ir") };
  }
  if (named("twilio")) {
    const accountSid = required(env, "TWILIO_ACCOUNT_SID", "twilio");
    const authToken = required(env, "TWILIO_AUTH_TOKEN", "twilio");
    const from = read(env, "TWILIO_FROM");
    const messagingServiceSid = read(env, "TWILIO_MESSAGING_SERVICE_SID");
    if (from === undefined && messagingServiceSid === undefined) {
      throw new ConfigError("TWILIO_FROM", "or TWILIO_MESSAGING_SERVICE_SID is required when SMS_PROVIDER names twilio");
    }
    config.twilio = { accountSid, authToken, from, messagingServiceSid, baseUrl: base("TWILIO_BASE_URL", "https://api.twilio.com") };
  }
  return config;
}

/**
 * One language's template. A literal `\n` is a line break (most env files cannot hold
 * one); `{code}` must be there, and no brace pair but the placeholders.
 */
function smsTemplate(env: Env, name: string, fallback: string): string {
  const template = (read(env, name) ?? fallback).replaceAll("\\n", "\n");
  for (const [placeholder, inside = ""] of template.matchAll(/\{([^{}]*)\}/g)) {
    if (!SMS_TEMPLATE_PLACEHOLDERS.some((known) => known === inside)) {
      throw new ConfigError(name, `${placeholder} is not a placeholder: use ${SMS_TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(" and ")}`);
    }
  }
  if (!template.includes("{code}")) throw new ConfigError(name, "must contain {code}, or the SMS would not carry the code");
  return template;
}

/** SMS_WEBOTP_DOMAIN: the bare host name browsers match against the page's origin. */
function webOtpDomain(env: Env): string | undefined {
  const text = read(env, "SMS_WEBOTP_DOMAIN");
  if (text === undefined) return undefined;
  const host = text.toLowerCase();
  const label = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
  if (host.length > 253 || !new RegExp(`^${label}(?:\\.${label})*$`).test(host) || isIP(host) !== 0) {
    throw new ConfigError("SMS_WEBOTP_DOMAIN", `"${text}" is not a bare host name such as login.example.com (no scheme, port or path; xn-- form for a non-ASCII name)`);
  }
  return host;
}

function smsTextConfig(env: Env): SmsTextConfig {
  return {
    templates: { fa: smsTemplate(env, "SMS_TEMPLATE_FA", DEFAULT_SMS_TEMPLATES.fa), en: smsTemplate(env, "SMS_TEMPLATE_EN", DEFAULT_SMS_TEMPLATES.en) },
    webOtpDomain: webOtpDomain(env),
  };
}

/** SERVICE_API_KEYS: `name:key` (Introspect) or `name:key:admin` (AdminService too), each name once. */
function serviceApiKeys(env: Env): { keys: Map<string, string>; admin: Set<string> } {
  const keys = new Map<string, string>();
  const admin = new Set<string>();
  for (const entry of list(env, "SERVICE_API_KEYS")) {
    const [name = "", key = "", scope, ...rest] = entry.split(":");
    if (name === "" || key.length < 16 || rest.length > 0 || (scope !== undefined && scope !== "admin")) {
      throw new ConfigError("SERVICE_API_KEYS", "each entry must be name:key or name:key:admin, with a key of at least 16 characters and no colon");
    }
    if (keys.has(name)) throw new ConfigError("SERVICE_API_KEYS", `names a service twice (${name})`);
    keys.set(name, key);
    if (scope === "admin") admin.add(name);
  }
  return { keys, admin };
}

/** Braces would become the Redis Cluster hash tag of every key (all on one node),
 * and split the keys that must share one. */
function keyPrefix(env: Env): string {
  const prefix = read(env, "REDIS_KEY_PREFIX") ?? "idn:";
  if (/[{}]/.test(prefix)) throw new ConfigError("REDIS_KEY_PREFIX", "must not contain { or } (they would become the Redis Cluster hash tag of every key)");
  return prefix;
}

/** A two-letter region the phone-number metadata knows (ISO 3166-1 alpha-2). */
function region(env: Env, name: string, text: string): string {
  const code = text.toUpperCase();
  if (!/^[A-Z]{2}$/.test(code) || !isSupportedCountry(code)) {
    throw new ConfigError(name, `"${text}" is not a two-letter region code with phone numbers, such as IR`);
  }
  return code;
}

function allowedRegions(env: Env): ReadonlySet<string> | undefined {
  const entries = list(env, "PHONE_ALLOWED_REGIONS");
  return entries.length === 0 ? undefined : new Set(entries.map((entry) => region(env, "PHONE_ALLOWED_REGIONS", entry)));
}

function clusterNodes(env: Env): string[] | undefined {
  const nodes = list(env, "REDIS_CLUSTER_NODES");
  if (nodes.length === 0) return undefined;
  for (const node of nodes) {
    if (!/^[^:\s]+:\d{1,5}$/.test(node)) throw new ConfigError("REDIS_CLUSTER_NODES", `"${node}" is not host:port`);
  }
  return nodes;
}

function file(env: Env, variable: string): TlsFile | undefined {
  const path = read(env, variable);
  return path === undefined ? undefined : { variable, path };
}

/** A certificate and its key come together: one without the other is refused. */
function pair(env: Env, certVariable: string, keyVariable: string): { cert: TlsFile; key: TlsFile } | undefined {
  const cert = file(env, certVariable);
  const key = file(env, keyVariable);
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined) throw new ConfigError(certVariable, `is required with ${keyVariable} (a certificate and its private key)`);
  if (key === undefined) throw new ConfigError(keyVariable, `is required with ${certVariable} (a certificate and its private key)`);
  return { cert, key };
}

function serverTls(env: Env): ServerTlsFiles | undefined {
  const served = pair(env, "TLS_CERT_FILE", "TLS_KEY_FILE");
  const ca = file(env, "TLS_CLIENT_CA_FILE");
  if (served === undefined) {
    if (ca !== undefined) throw new ConfigError("TLS_CLIENT_CA_FILE", "needs TLS_CERT_FILE and TLS_KEY_FILE (client certificates are asked for only over TLS)");
    return undefined;
  }
  return ca === undefined ? served : { ...served, ca };
}

function upstreamTls(env: Env, grpcUpstream: string | undefined): TlsFiles | undefined {
  const client = pair(env, "GRPC_CLIENT_CERT_FILE", "GRPC_CLIENT_KEY_FILE");
  const ca = file(env, "GRPC_UPSTREAM_CA_FILE");
  const secure = grpcUpstream !== undefined && new URL(grpcUpstream).protocol === "https:";
  if (!secure) {
    const named = ca?.variable ?? client?.cert.variable;
    if (named !== undefined) throw new ConfigError(named, "is used only with an https:// GRPC_UPSTREAM");
    return undefined;
  }
  return { ...client, ...(ca && { ca }) };
}

export function loadConfig(env: Env = process.env): Config {
  const production = read(env, "NODE_ENV") === "production";
  const algorithm = oneOf(env, "JWT_ALGORITHM", ["HS256", "ES256", "EdDSA", "RS256"] as const, "ES256");
  const signingKey = read(env, "JWT_SIGNING_KEY");
  const sms = smsConfig(env);
  const serviceRole = oneOf(env, "SERVICE_ROLE", ["all", "grpc", "bridge"] as const, "all");
  const grpcUpstream = url(env, "GRPC_UPSTREAM", ["http:", "https:"]);
  const redisUrl = url(env, "REDIS_URL", ["redis:", "rediss:"]);
  const redisClusterNodes = clusterNodes(env);
  const redisKeyPrefix = keyPrefix(env);
  const serviceKeys = serviceApiKeys(env);
  const httpPort = port(env, "HTTP_PORT", 8080);

  const config: Config = {
    production,
    host: read(env, "HOST") ?? "127.0.0.1",
    grpcPort: port(env, "GRPC_PORT", 50051),
    httpPort,
    databaseUrl: url(env, "DATABASE_URL", ["postgres:", "postgresql:"]),
    dataDir: read(env, "DATA_DIR") ?? "./.data",
    kv: redisUrl === undefined && redisClusterNodes === undefined ? { kind: "memory" } : { kind: "redis", url: redisUrl, clusterNodes: redisClusterNodes, keyPrefix: redisKeyPrefix },
    serviceRole,
    grpcUpstream,
    workers: read(env, "WORKERS")?.toLowerCase() === "auto" ? availableParallelism() : integer(env, "WORKERS", 1, 1, 64),
    tokens: {
      accessLifetimeMs: duration(env, "ACCESS_TOKEN_LIFETIME", "60m"),
      refreshLifetimeMs: duration(env, "REFRESH_TOKEN_LIFETIME", "7d"),
      rotateRefreshTokens: boolean(env, "ROTATE_REFRESH_TOKENS", true),
      blacklistAfterRotation: boolean(env, "BLACKLIST_AFTER_ROTATION", true),
      updateLastLogin: boolean(env, "UPDATE_LAST_LOGIN", true),
      sessionMaxLifetimeMs: duration(env, "SESSION_MAX_LIFETIME", "30d"),
      refreshReuseIntervalMs: duration(env, "REFRESH_REUSE_INTERVAL", "10s"),
      algorithm,
      signingKey,
      verifyKeys: read(env, "JWT_VERIFY_KEYS"),
      issuer: read(env, "JWT_ISSUER"),
      audience: read(env, "JWT_AUDIENCE"),
      leewayMs: duration(env, "JWT_LEEWAY", "0s"),
    },
    serviceApiKeys: serviceKeys.keys,
    adminServiceKeys: serviceKeys.admin,
    otp: {
      length: integer(env, "OTP_LENGTH", 6, 4, 10),
      ttlMs: duration(env, "OTP_TTL", "2m"),
      maxAttempts: integer(env, "OTP_MAX_ATTEMPTS", 5, 1, 20),
      resendIntervalMs: duration(env, "OTP_RESEND_INTERVAL", "60s"),
      maxPerPhonePerHour: integer(env, "OTP_MAX_PER_PHONE_PER_HOUR", 5, 1, 1_000_000),
      maxPerIpPerHour: integer(env, "OTP_MAX_PER_IP_PER_HOUR", 20, 1, 1_000_000),
      enumerationProtection: boolean(env, "ENUMERATION_PROTECTION", false),
    },
    phoneDefaultRegion: region(env, "PHONE_DEFAULT_REGION", read(env, "PHONE_DEFAULT_REGION") ?? "IR"),
    phoneAllowedRegions: allowedRegions(env),
    sms,
    smsText: smsTextConfig(env),
    trustedProxies: addresses(env, "TRUSTED_PROXIES"),
    corsOrigins: origins(env, "CORS_ORIGINS"),
    defaultLocale: oneOf(env, "DEFAULT_LOCALE", ["fa", "en"] as const, "fa"),
    logLevel: oneOf(env, "LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const, "info"),
    auditRetentionMs: duration(env, "AUDIT_RETENTION", "180d"),
    metricsPort: metricsPort(env, httpPort),
    tracing: tracing(env),
    tls: serverTls(env),
    upstreamTls: upstreamTls(env, grpcUpstream),
    legacySimpleJwt: legacySimpleJwt(env),
  };
  checkCoherence(config);
  if (production) checkProduction(config);
  return config;
}

function checkCoherence(config: Config): void {
  const t = config.tokens;
  if (t.accessLifetimeMs < 1000) throw new ConfigError("ACCESS_TOKEN_LIFETIME", "must be at least 1s");
  if (t.refreshLifetimeMs < t.accessLifetimeMs) {
    throw new ConfigError("REFRESH_TOKEN_LIFETIME", "must not be shorter than ACCESS_TOKEN_LIFETIME");
  }
  if (t.sessionMaxLifetimeMs < t.accessLifetimeMs) {
    throw new ConfigError("SESSION_MAX_LIFETIME", "must not be shorter than ACCESS_TOKEN_LIFETIME");
  }
  if (t.rotateRefreshTokens && !t.blacklistAfterRotation) {
    throw new ConfigError("BLACKLIST_AFTER_ROTATION", "false is refused while ROTATE_REFRESH_TOKENS=true: a session has one live refresh token, so a rotated-out one always stops working");
  }
  if (config.otp.ttlMs < 1000) throw new ConfigError("OTP_TTL", "must be at least 1s");
  // A trail kept for less than a day is no trail: a typo ("180" is seconds) must not empty it.
  if (config.auditRetentionMs < DAY_MS) throw new ConfigError("AUDIT_RETENTION", "must be at least 1d");
  if (config.serviceRole === "bridge" && config.grpcUpstream === undefined) {
    throw new ConfigError("GRPC_UPSTREAM", "is required when SERVICE_ROLE=bridge");
  }
  const sharedStores = config.databaseUrl !== undefined && config.kv.kind === "redis";
  if (config.workers > 1 && config.serviceRole !== "bridge" && !sharedStores) {
    throw new ConfigError("WORKERS", "several workers need DATABASE_URL and REDIS_URL (the embedded stores serve one process)");
  }
  const weakSecret = t.algorithm === "HS256" && t.signingKey !== undefined ? hs256SecretProblem(t.signingKey) : undefined;
  if (weakSecret !== undefined) throw new ConfigError("JWT_SIGNING_KEY", weakSecret);
  if (config.serviceRole === "bridge" && config.tls?.ca !== undefined) {
    throw new ConfigError("TLS_CLIENT_CA_FILE", "is for the gRPC server's callers; SERVICE_ROLE=bridge serves browsers, and never asks them for a certificate");
  }
  if (config.phoneAllowedRegions !== undefined && !config.phoneAllowedRegions.has(config.phoneDefaultRegion)) {
    throw new ConfigError("PHONE_ALLOWED_REGIONS", `must include PHONE_DEFAULT_REGION (${config.phoneDefaultRegion}), or numbers written without + could never be used`);
  }
}

/**
 * NODE_ENV=production serving plaintext where others can reach it: a warning, not a
 * refusal (a TLS-terminating proxy or a mesh in front is a fine deployment).
 */
export function plaintextWarning(config: Pick<Config, "production" | "tls" | "host">): string | undefined {
  if (!config.production || config.tls !== undefined || isLoopback(config.host)) return undefined;
  return `serving plaintext on ${config.host} with NODE_ENV=production: set TLS_CERT_FILE and TLS_KEY_FILE, unless a proxy or mesh in front terminates TLS`;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

/** What production must never run with: keys anyone could have, codes in logs. */
function checkProduction(config: Config): void {
  if (config.tokens.signingKey === undefined) {
    throw new ConfigError("JWT_SIGNING_KEY", "is required with NODE_ENV=production (generated keys are for development)");
  }
  if (config.sms.providers.includes("console")) {
    throw new ConfigError("SMS_PROVIDER", "console writes codes to the log; not allowed with NODE_ENV=production");
  }
  if (config.sms.webhook !== undefined && config.sms.webhook.secret === undefined) {
    throw new ConfigError("SMS_WEBHOOK_SECRET", "is required with NODE_ENV=production when SMS_PROVIDER names webhook");
  }
  if (config.serviceApiKeys.size === 0) {
    throw new ConfigError("SERVICE_API_KEYS", "is required with NODE_ENV=production (Introspect would be open)");
  }
  if (config.databaseUrl === undefined && config.serviceRole !== "bridge") {
    throw new ConfigError("DATABASE_URL", "is required with NODE_ENV=production (the embedded database is for development)");
  }
  if (config.kv.kind === "memory" && config.serviceRole !== "bridge") {
    throw new ConfigError("REDIS_URL", "is required with NODE_ENV=production (the in-process store cannot be shared)");
  }
}
