/**
 * Verify in the backend's own process: the signature against the service's
 * published keys, the claims by the service's own rules (core/tokens), revocations
 * from the service's feed. Whatever it cannot answer for sure here it asks the
 * service's Verify, and when that fails too it refuses: a local answer is never
 * `valid: true` for a token the service holds revoked.
 */
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { decodeProtectedHeader } from "jose";
import { systemClock, type Clock } from "../core/clock.js";
import { AppError } from "../core/errors.js";
import { createRevocationSet } from "../core/sessions/revocation-set.js";
import { readToken, type TokenReadDeps } from "../core/tokens/authenticate.js";
import { userOfClaims, type TokenClaims } from "../core/tokens/claims.js";
import { createVerifiedTokenCache } from "../core/tokens/verified-cache.js";
import { parseDuration } from "../lib/duration.js";
import { CLIENT_IDLE_TIMEOUT_MS } from "../lib/http-limits.js";
import { verifyResponseMessage } from "../rpc/convert.js";
import { TokenService, VerifyResponseSchema, type VerifyResponse } from "../../gen/identity/v1/token_pb.js";
import { followRevocations, type FeedStatus } from "./feed.js";
import { remoteKeys } from "./keys.js";

export interface LocalVerifierOptions {
  /** The gRPC server, e.g. `http://identity-grpc.internal:50051` (https:// for TLS), as for createIdentityClient. */
  baseUrl: string;
  /** This service's key from SERVICE_API_KEYS (the feed requires one; any scope). */
  apiKey: string;
  /** No event or heartbeat for this long: the set is not trusted, Verify is asked. Default "1s". */
  maxStaleness?: string;
  /**
   * The service's own token settings, which it does not publish: give the values it
   * runs with (defaults are the service's). A mismatch shows, it does not let revoked
   * tokens through: a shorter lifetime, or an issuer/audience the tokens lack, refuses
   * valid tokens (`token_not_valid`).
   */
  accessTokenLifetime?: string;
  leeway?: string;
  issuer?: string;
  audience?: string;
  /** Deadline of each call to the service (Verify, GetJwks). Default 2000. */
  timeoutMs?: number;
}

export interface LocalVerifier {
  /** The answer `Verify` gives, from here when it can be given here. */
  verify(token: string): Promise<VerifyResponse>;
  /** The feed's state and the size of the revocation set (for health checks). */
  status(): FeedStatus & { revocationsHeld: number; jwksFetches: number };
  close(): Promise<void>;
}

/** Least time between two JWKS fetches for unknown kids. */
const JWKS_FLOOR_MS = 1000;
/** Keys are fetched again this often, so a withdrawn key stops verifying here too. */
const JWKS_MAX_AGE_MS = 5 * 60_000;
const SILENT = { isLevelEnabled: () => false, debug: () => undefined };

export function createLocalVerifier(options: LocalVerifierOptions): LocalVerifier {
  const clock: Clock = systemClock;
  const rules = {
    accessLifetimeMs: duration("accessTokenLifetime", options.accessTokenLifetime ?? "60m"),
    leewayMs: duration("leeway", options.leeway ?? "0s"),
    // Read by verifyToken only for refresh tokens, which are never asked about here.
    refreshLifetimeMs: 0,
    issuer: options.issuer,
    audience: options.audience,
  };
  const maxStalenessMs = duration("maxStaleness", options.maxStaleness ?? "1s");
  const timeoutMs = options.timeoutMs ?? 2000;
  const unary = createClient(TokenService, createGrpcTransport({ baseUrl: options.baseUrl, idleConnectionTimeoutMs: CLIENT_IDLE_TIMEOUT_MS }));
  // The feed's own connection, pinged: a network that stops forwarding closes it,
  // so the next attempt does not open its stream on the dead connection.
  const streaming = createClient(TokenService, createGrpcTransport({ baseUrl: options.baseUrl, pingIntervalMs: 1000, pingTimeoutMs: 1000, pingIdleConnection: true }));
  const keys = remoteKeys({ tokens: unary, clock, timeoutMs, floorMs: JWKS_FLOOR_MS, maxAgeMs: JWKS_MAX_AGE_MS });
  const set = createRevocationSet(rules);
  const feed = followRevocations({ tokens: streaming, apiKey: options.apiKey, set, clock, maxStalenessMs });
  const deps: TokenReadDeps = { keys: { get verification() { return keys.current().verification; }, get algorithms() { return keys.current().algorithms; } }, config: { tokens: rules }, clock, log: SILENT, verifiedTokens: createVerifiedTokenCache() };

  /** Fail closed: a service that cannot be asked is reported as the service reports
   * its own unavailability (UNAVAILABLE with reason service_unavailable). */
  const remote = async (token: string): Promise<VerifyResponse> => {
    try {
      return await unary.verify({ token }, { timeoutMs });
    } catch {
      return answer({ valid: false, reason: "service_unavailable" });
    }
  };

  return {
    async verify(token) {
      const kid = kidOf(token);
      // HS256 deployments publish no keys: only the service can check their tokens.
      if (kid?.alg === "HS256") return remote(token);
      if (kid !== undefined && (await keys.lookup(kid.kid)) === "unsure") return remote(token);
      let claims: TokenClaims;
      try {
        claims = await readToken(deps, token, "access");
      } catch (error) {
        if (error instanceof AppError) return answer({ valid: false, reason: error.reason });
        throw error;
      }
      const nowMs = clock.now();
      // Past exp, accepted by JWT_LEEWAY: its session may have ended with it
      // (session_expired), which only the service knows.
      if (!feed.trusted() || claims.exp * 1000 <= nowMs) return remote(token);
      const asked = set.askedAbout(claims.sub);
      const coverage = set.check(claims, nowMs);
      if (coverage === "revoked") return answer({ valid: false, reason: "session_revoked" });
      if (coverage === "not_revoked") return answer({ valid: true, user: userOfClaims(claims), claims, expiresAt: new Date(claims.exp * 1000) });
      const response = await remote(token);
      if (response.valid || response.reason === "session_revoked") set.settle(claims, asked, response.valid, clock.now());
      return response;
    },
    status: () => ({ ...feed.status(), revocationsHeld: set.size, jwksFetches: keys.fetches }),
    close: () => feed.close(),
  };
}

function answer(verdict: Parameters<typeof verifyResponseMessage>[0]): VerifyResponse {
  return create(VerifyResponseSchema, verifyResponseMessage(verdict));
}

/** The header's kid and alg, when it has them (else the full check says why not). */
function kidOf(token: string): { kid: string; alg: string | undefined } | undefined {
  try {
    const header = decodeProtectedHeader(token);
    return typeof header.kid === "string" ? { kid: header.kid, alg: header.alg } : undefined;
  } catch {
    return undefined;
  }
}

function duration(name: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new TypeError(`createLocalVerifier: ${name} is not a duration (e.g. "1s", "60m"): ${JSON.stringify(text)}`);
  return ms;
}
