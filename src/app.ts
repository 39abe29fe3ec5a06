/**
 * The composition root: configuration in, a running graph out. main.ts, the CLI,
 * the library surface and the tests all build the service through here.
 */
import { hkdfSync } from "node:crypto";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import type { Config } from "./config.js";
import { systemClock, type Clock } from "./core/clock.js";
import type { CoreDeps } from "./core/deps.js";
import { cryptoRandom, type Random } from "./core/random.js";
import type { ExtraClaims } from "./core/tokens/claims.js";
import { createKeyRing } from "./core/tokens/keys.js";
import { createServiceKeyCheck } from "./core/tokens/service-keys.js";
import { createVerifiedTokenCache } from "./core/tokens/verified-cache.js";
import { createLocalCopies } from "./core/local-copies.js";
import { startGrpcServer, type RunningGrpcServer } from "./grpc/server.js";
import { monitorReadiness, type Readiness } from "./health.js";
import { createCallClientResolver } from "./lib/client-ip.js";
import type { HttpLimits } from "./lib/http-limits.js";
import { ReloadableTls } from "./lib/tls.js";
import { createAdminService, createAuthService, createInterceptors, createTokenService, type Interceptor } from "./rpc/index.js";
import { codeSender, countSmsAttempts, createSmsSender, observedSender } from "./sms/index.js";
import type { SmsSender } from "./sms/sender.js";
import { loadOrCreateDevKey } from "./store/dev-keys.js";
import { lockDataDir, lockSharedDatabase } from "./store/instance-lock.js";
import { createMemoryStore } from "./store/kv/memory.js";
import type { KeyValueStore } from "./core/ports/key-value.js";
import { noMetrics } from "./core/ports/metrics.js";
import type { ServiceMetrics, StoreName } from "./observability/metrics.js";
import type { Tracing } from "./observability/tracing/tracing.js";
import { createPgliteDatabase, createPostgresDatabase, type Database, type OnUnavailable } from "./store/postgres/db.js";
import { watchStore } from "./store/watch.js";
import { migrate } from "./store/postgres/migrate.js";
import { createSessionLiveness } from "./store/liveness/cache.js";
import { createAuditLog } from "./store/postgres/audit.js";
import { createSessionRepository } from "./store/postgres/sessions.js";
import { createRevocationLog } from "./store/postgres/revocations.js";
import { createRevocationHub } from "./core/revocations/hub.js";
import type { RevocationFeed } from "./core/revocations/watch.js";
import type { User } from "./core/ports/users.js";
import { createUserRepository } from "./store/postgres/users.js";
import { AdminService } from "../gen/identity/v1/admin_pb.js";
import { AuthService } from "../gen/identity/v1/auth_pb.js";
import { TokenService } from "../gen/identity/v1/token_pb.js";

/** How long in-process copies live at most: revocation is seen everywhere within
 * SESSION_COPY_MS even if an announcement is lost; a profile within PROFILE_COPY_MS. */
const SESSION_COPY_MS = 1_000;
const PROFILE_COPY_MS = 30_000;

/** Seams for tests and embedding applications. */
export interface BuildOptions {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  sms?: SmsSender;
  extraClaims?: ExtraClaims;
  /** The Prometheus series to record into (main.ts makes them unless METRICS_PORT=off). */
  metrics?: ServiceMetrics;
  /** Spans around every RPC and every PostgreSQL, Redis and SMS call (main.ts starts
   * tracing when an OTLP endpoint is set); absent, nothing is wrapped. */
  tracing?: Pick<Tracing, "calls" | "database" | "keyValue" | "smsSender">;
}

/** `mixin` adds fields to every line (the trace's ids, while tracing). */
export function createLogger(config: Pick<Config, "logLevel">, mixin?: () => object): Logger {
  return pino({
    level: config.logLevel,
    base: { service: "identity" },
    ...(mixin && { mixin }),
    // Belt and braces: nothing should log these, and if something does, not in clear.
    redact: { paths: ["authorization", "*.authorization", "token", "*.token", "refresh", "*.refresh", "access", "*.access"], censor: "[redacted]" },
  });
}

/** Opens the stores: PostgreSQL (or embedded PGlite) and Redis (or in-process). Each
 * call a store fails to answer counts in identity_store_errors_total when `metrics` is
 * given; the outage itself is logged once by its health watch (createIdentity). */
export async function openStores(config: Config, clock: Clock, metrics?: ServiceMetrics): Promise<{ db: Database; kv: KeyValueStore; shared: boolean; release: () => Promise<void> }> {
  const releases: (() => Promise<void>)[] = [];
  const { kv: kvConfig } = config;
  try {
    // A shared database may serve Redis-backed instances or one in-process instance,
    // never both (the embedded one is locked to this process by openDatabase).
    if (config.databaseUrl !== undefined) releases.push(await lockSharedDatabase(config.databaseUrl, kvConfig.kind === "memory" ? "in-process store" : "redis"));
    const { db, release } = await openDatabase(config, metrics && (() => metrics.storeError("postgres")));
    releases.push(release);
    // ioredis is loaded only when used: the embedded default starts faster without it.
    const kv =
      kvConfig.kind === "memory"
        ? createMemoryStore({ now: () => clock.now() })
        : await (await import("./store/kv/redis.js")).createRedisStore({
            url: kvConfig.url,
            clusterNodes: kvConfig.clusterNodes,
            keyPrefix: kvConfig.keyPrefix,
            onUnavailable: metrics && (() => metrics.storeError("redis")),
          });
    releases.push(() => kv.close());
    return {
      db,
      kv,
      shared: kvConfig.kind === "redis",
      release: async () => {
        for (const release of releases.reverse()) await release().catch(() => {});
      },
    };
  } catch (error) {
    for (const release of releases.reverse()) await release().catch(() => {});
    throw error;
  }
}

/**
 * PostgreSQL alone, for commands that serve no tokens (migrate, flush-expired): a
 * shared database is opened without Redis or the instance lock, so they run beside
 * instances of either mode; the embedded one still needs its data-directory lock.
 */
export async function openDatabase(config: Config, onUnavailable?: OnUnavailable): Promise<{ db: Database; release: () => Promise<void> }> {
  if (config.databaseUrl !== undefined) {
    const db = await createPostgresDatabase({ url: config.databaseUrl, onUnavailable });
    return { db, release: () => db.close() };
  }
  const unlock = await lockDataDir(config.dataDir);
  try {
    const db = await createPgliteDatabase(join(config.dataDir, "pgdata"), { onUnavailable });
    return { db, release: async () => (await db.close(), await unlock()) };
  } catch (error) {
    await unlock();
    throw error;
  }
}

export interface Identity {
  deps: CoreDeps;
  db: Database;
  readiness: Readiness;
  auth: ReturnType<typeof createAuthService>;
  token: ReturnType<typeof createTokenService>;
  /** The revocation log and this process's reader of it (WatchRevocations). */
  feed: RevocationFeed;
  admin: ReturnType<typeof createAdminService>;
  /** Run around the services by every transport (a log line per call, the caller's authentication). */
  interceptors: readonly Interceptor[];
  close(): Promise<void>;
}

/** Builds the whole domain on open stores, with migrations applied. */
export async function createIdentity(config: Config, options: BuildOptions = {}): Promise<Identity> {
  const log = options.logger ?? createLogger(config);
  const clock = options.clock ?? systemClock;
  const signingKey = config.tokens.signingKey ?? (await devKey(config, log));
  const keys = await createKeyRing({ algorithm: config.tokens.algorithm, signingKey, verifyKeys: config.tokens.verifyKeys });
  const { tracing } = options;
  const domainMetrics = options.metrics?.domain ?? noMetrics;
  // Each provider call is counted by the provider called, one of a failover list or
  // a sender passed in. Built here, closed here (its connection pools); a sender
  // passed in is the caller's to close.
  const onAttempt = countSmsAttempts(domainMetrics);
  const sms = options.sms === undefined ? createSmsSender(config.sms, log, { now: () => clock.now(), onAttempt }) : observedSender(options.sms, onAttempt);
  const closeSms = async () => {
    if (options.sms === undefined) await sms.close?.();
  };
  const stores = await openStores(config, clock, options.metrics).catch(async (error: unknown) => {
    await closeSms();
    throw error;
  });
  const db = tracing ? tracing.database(stores.db) : stores.db;
  // The in-process store is a Map: only Redis calls are round trips worth a span.
  const kv = tracing && stores.shared ? tracing.keyValue(stores.kv) : stores.kv;
  try {
    const applied = await migrate(db);
    if (applied.length > 0) log.info({ applied }, "migrations applied");
    const sessions = createSessionRepository(db);
    const deps: CoreDeps = {
      config,
      clock,
      random: options.random ?? cryptoRandom,
      keys,
      otpKey: new Uint8Array(hkdfSync("sha256", signingKey, "identity-service", "otp-digest", 32)),
      users: createUserRepository(db),
      sessions,
      audit: createAuditLog(db),
      liveness: createSessionLiveness({
        kv,
        sessions,
        tokens: config.tokens,
        clock,
        // The in-process store too: it hears its own changes at once, and a held copy
        // answers Verify without an await or decoding the stored values again.
        localCopyMs: SESSION_COPY_MS,
      }),
      kv,
      sms: codeSender(tracing ? tracing.smsSender(sms) : sms, { ...config.smsText, ttlMs: config.otp.ttlMs }),
      log,
      metrics: domainMetrics,
      extraClaims: options.extraClaims,
      serviceKeys: createServiceKeyCheck(config.serviceApiKeys, log),
      verifiedTokens: createVerifiedTokenCache(),
      // Profiles are not security state (a revoked session is refused before its
      // profile is read), so a copy may live longer; every change is announced.
      localProfiles: createLocalCopies<User>(kv, PROFILE_COPY_MS, 50_000),
    };
    // Embedded PGlite is reported as postgres; the in-process store is not Redis, so no redis series then.
    const { metrics } = options;
    const watch = { log, up: metrics && ((store: StoreName, up: boolean) => metrics.storeUp(store, up)) };
    const database = watchStore("postgres", watch);
    const cache = stores.shared ? watchStore("redis", watch) : undefined;
    const readiness = monitorReadiness([
      { name: "database", check: () => db.ping(), observe: database.probed },
      { name: "cache", check: () => kv.ping(), observe: cache?.probed },
    ]);
    await readiness.check();
    const revocationLog = createRevocationLog(db);
    const feed: RevocationFeed = {
      log: revocationLog,
      hub: createRevocationHub({
        log: revocationLog,
        changes: kv,
        // Once when reading fails and once when it works again; streams meanwhile send
        // no heartbeats, so local verifiers stop trusting what they hold.
        onTrouble: (error) =>
          error === undefined ? log.info("revocation feed: reading the log again") : log.warn({ err: String(error) }, "revocation feed: cannot read the log"),
      }),
    };
    return {
      deps,
      db,
      readiness,
      feed,
      auth: createAuthService(deps),
      token: createTokenService(deps, feed),
      admin: createAdminService(deps),
      // The trace's span outermost, so the call's log line and refusals are inside it.
      interceptors: tracing ? [tracing.calls, ...createInterceptors(deps)] : createInterceptors(deps),
      async close() {
        readiness.stop();
        feed.hub.close();
        await closeSms();
        await stores.release();
      },
    };
  } catch (error) {
    await closeSms();
    await stores.release();
    throw error;
  }
}

async function devKey(config: Config, log: Logger): Promise<string> {
  const { key, created } = await loadOrCreateDevKey(config.dataDir, config.tokens.algorithm);
  if (created) log.warn({ dataDir: config.dataDir }, "generated a development signing key (set JWT_SIGNING_KEY in production)");
  return key;
}

export interface GrpcApp extends Identity {
  grpc: RunningGrpcServer;
  /** Drains in-flight calls, then closes the stores. */
  shutdown(graceMs?: number): Promise<void>;
}

export interface GrpcAppOptions extends BuildOptions {
  /** The gRPC port's header budget, HTTP/2 streams and time-outs (HTTP_LIMITS by default). */
  limits?: Partial<HttpLimits>;
  /** The certificate served (shared with a bridge in the same process, so one reload
   * serves both); by default read from config.tls, if set. */
  tls?: ReloadableTls;
}

/** The identity service behind its gRPC server. */
export async function startGrpcApp(config: Config, options: GrpcAppOptions = {}): Promise<GrpcApp> {
  const identity = await createIdentity(config, options);
  try {
    const grpc = await startGrpcServer({
      host: config.host,
      port: config.grpcPort,
      defaultLocale: config.defaultLocale,
      client: createCallClientResolver(config.trustedProxies),
      readiness: identity.readiness,
      maxMessageBytes: 64 * 1024,
      limits: options.limits,
      tls: options.tls ?? (config.tls && new ReloadableTls(config.tls)),
      interceptors: identity.interceptors,
      metrics: options.metrics,
      services: [
        { descriptor: AuthService, handlers: identity.auth },
        { descriptor: TokenService, handlers: identity.token },
        { descriptor: AdminService, handlers: identity.admin },
      ],
    });
    return {
      ...identity,
      grpc,
      async shutdown(graceMs = 10_000) {
        await grpc.shutdown(graceMs);
        await identity.close();
      },
    };
  } catch (error) {
    await identity.close();
    throw error;
  }
}
