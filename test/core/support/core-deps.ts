/**
 * Core's dependencies with every port in memory: the in-process key-value store,
 * the in-memory repositories, the real liveness cache over them, an HS256 key ring,
 * a clock that only moves when the test says, and an SMS outbox. No PostgreSQL, no
 * Redis, no network: core's rules run in milliseconds.
 */
import { hkdfSync } from "node:crypto";
import { pino } from "pino";
import { loadConfig, type Config } from "../../../src/config.js";
import type { Clock } from "../../../src/core/clock.js";
import type { CoreDeps } from "../../../src/core/deps.js";
import { createLocalCopies } from "../../../src/core/local-copies.js";
import type { CodeSender, CodeSms } from "../../../src/core/ports/code-sender.js";
import type { KeyValueStore } from "../../../src/core/ports/key-value.js";
import type { User } from "../../../src/core/ports/users.js";
import { cryptoRandom } from "../../../src/core/random.js";
import type { ExtraClaims } from "../../../src/core/tokens/claims.js";
import { createKeyRing } from "../../../src/core/tokens/keys.js";
import { createServiceKeyCheck } from "../../../src/core/tokens/service-keys.js";
import { createVerifiedTokenCache } from "../../../src/core/tokens/verified-cache.js";
import { createMemoryStore } from "../../../src/store/kv/memory.js";
import { createSessionLiveness } from "../../../src/store/liveness/cache.js";
import { createMemoryStores, type MemoryStores } from "./memory-stores.js";
import { noMetrics, type DomainMetrics } from "../../../src/core/ports/metrics.js";

export const SIGNING_SECRET = "core-test-signing-secret-of-at-least-32-bytes";

/** A clock that stands still until the test moves it. */
export interface TestClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

export function testClock(start = Date.UTC(2026, 0, 1, 12)): TestClock {
  let now = start;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
    set(ms) {
      now = ms;
    },
  };
}

/** Every code the service sent, newest last. */
export interface Outbox extends CodeSender {
  readonly sent: CodeSms[];
  /** The last code sent to `phone` for `purpose`. */
  codeFor(phone: string, purpose: "register" | "login"): string;
  /** Makes the next sends fail as a provider outage would (or succeed again). */
  failWith(error: Error | undefined): void;
}

export function outbox(): Outbox {
  const sent: CodeSms[] = [];
  let failure: Error | undefined;
  return {
    name: "test-outbox",
    sent,
    async sendCode(sms) {
      if (failure !== undefined) throw failure;
      sent.push(sms);
      return { provider: "test-outbox" };
    },
    codeFor(phone, purpose) {
      const last = sent.findLast((sms) => sms.to === phone && sms.purpose === purpose);
      if (last === undefined) throw new Error(`no ${purpose} code was sent to ${phone}`);
      return last.code;
    },
    failWith(error) {
      failure = error;
    },
  };
}

export interface CoreLab {
  deps: CoreDeps;
  clock: TestClock;
  sms: Outbox;
  kv: KeyValueStore;
  stores: MemoryStores;
  config: Config;
}

export interface CoreLabOptions {
  /** Environment variables, as the service reads them. */
  env?: Record<string, string>;
  extraClaims?: ExtraClaims;
  /** Hold session state in-process as shared stores do (localCopyMs). */
  localCopyMs?: number;
  /** Where the domain's counts go (dropped by default). */
  metrics?: DomainMetrics;
}

export async function coreLab(options: CoreLabOptions = {}): Promise<CoreLab> {
  const config = loadConfig({ JWT_ALGORITHM: "HS256", JWT_SIGNING_KEY: SIGNING_SECRET, LOG_LEVEL: "silent", ...options.env });
  const clock = testClock();
  const kv = createMemoryStore({ now: () => clock.now() });
  const stores = createMemoryStores();
  const sms = outbox();
  const log = pino({ level: "silent" });
  const signingKey = config.tokens.signingKey ?? SIGNING_SECRET;
  const deps: CoreDeps = {
    config,
    clock,
    random: cryptoRandom,
    keys: await createKeyRing({ algorithm: config.tokens.algorithm, signingKey, verifyKeys: config.tokens.verifyKeys }),
    otpKey: new Uint8Array(hkdfSync("sha256", signingKey, "identity-service", "otp-digest", 32)),
    users: stores.users,
    sessions: stores.sessions,
    audit: stores.audit,
    liveness: createSessionLiveness({ kv, sessions: stores.sessions, tokens: config.tokens, clock, localCopyMs: options.localCopyMs }),
    kv,
    sms,
    log,
    metrics: options.metrics ?? noMetrics,
    extraClaims: options.extraClaims,
    serviceKeys: createServiceKeyCheck(config.serviceApiKeys, log),
    verifiedTokens: createVerifiedTokenCache(),
    localProfiles: createLocalCopies<User>(kv, 30_000, 1_000),
  };
  return { deps, clock, sms, kv, stores, config };
}
