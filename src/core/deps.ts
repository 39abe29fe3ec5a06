import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Clock } from "./clock.js";
import type { LocalCopies } from "./local-copies.js";
import type { AuditLog } from "./ports/audit.js";
import type { CodeSender } from "./ports/code-sender.js";
import type { KeyValueStore } from "./ports/key-value.js";
import type { DomainMetrics } from "./ports/metrics.js";
import type { SessionLiveness } from "./ports/session-liveness.js";
import type { SessionRepository } from "./ports/sessions.js";
import type { User, UserRepository } from "./ports/users.js";
import type { Random } from "./random.js";
import type { ExtraClaims } from "./tokens/claims.js";
import type { KeyRing } from "./tokens/keys.js";
import type { ServiceKeyCheck } from "./tokens/service-keys.js";
import type { VerifiedTokenCache } from "./tokens/verified-cache.js";

/** Everything the domain needs, built once by the composition root. */
export interface CoreDeps {
  config: Config;
  clock: Clock;
  random: Random;
  keys: KeyRing;
  /** Keys the one-time code digests (derived from the signing key, never stored). */
  otpKey: Uint8Array;
  users: UserRepository;
  sessions: SessionRepository;
  /** The audit trail (changes in PostgreSQL record their events themselves). */
  audit: AuditLog;
  /** Is a session live: the hot path's facts, and where revocations are recorded first. */
  liveness: SessionLiveness;
  /** One-time codes, rate counters, and change announcements. */
  kv: KeyValueStore;
  sms: CodeSender;
  log: Logger;
  /** What the domain counts (noMetrics when METRICS_PORT=off). */
  metrics: DomainMetrics;
  extraClaims?: ExtraClaims | undefined;
  /** Which service presents a key (Introspect), from SERVICE_API_KEYS. */
  serviceKeys: ServiceKeyCheck;
  /** Access tokens whose signature and claims were already checked (in-process). */
  verifiedTokens: VerifiedTokenCache;
  /** Profiles held in-process (GetProfile, the dashboard), dropped on every change. */
  localProfiles?: LocalCopies<User> | undefined;
}
