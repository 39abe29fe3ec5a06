import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { CodeSender } from "../sms/sender.js";
import type { KeyValueStore } from "../store/kv/types.js";
import type { SessionRepository } from "../store/postgres/sessions.js";
import type { UserRepository } from "../store/postgres/users.js";
import type { Clock } from "./clock.js";
import type { Random } from "./random.js";
import type { ExtraClaims } from "./tokens/claims.js";
import type { KeyRing } from "./tokens/keys.js";
import type { ServiceKeyCheck } from "./tokens/service-keys.js";
import type { VerifiedTokenCache } from "./tokens/verified-cache.js";
import type { UserRecord } from "../store/postgres/users.js";
import type { LocalCopies } from "./local-copies.js";

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
  kv: KeyValueStore;
  sms: CodeSender;
  log: Logger;
  extraClaims?: ExtraClaims | undefined;
  /** Which service presents a key (Introspect), from SERVICE_API_KEYS. */
  serviceKeys: ServiceKeyCheck;
  /** Access tokens whose signature and claims were already checked (in-process). */
  verifiedTokens: VerifiedTokenCache;
  /** Session state held in-process for up to a second (shared stores only). */
  localState?: LocalCopies<string> | undefined;
  /** Profiles held in-process (GetProfile, the dashboard), dropped on every change. */
  localProfiles?: LocalCopies<UserRecord> | undefined;
}
