/**
 * How far back the feed's opening set reaches, and how long the log keeps entries:
 * an access token lives ACCESS_TOKEN_LIFETIME, accepted up to the leeway after its
 * exp, so a revocation older than both can no longer matter to a verifier.
 */
import type { Config } from "../../config.js";

/** Kept this long past the opening window, so that a client reconnecting after a
 * pause still resumes by its cursor rather than taking the whole set again. */
export const RETENTION_MARGIN_MS = 10 * 60_000;

type Tokens = Pick<Config["tokens"], "accessLifetimeMs" | "leewayMs">;

/** The opening set: revocations made at or after this instant. */
export function openingSince(tokens: Tokens, nowMs: number): Date {
  return new Date(nowMs - tokens.accessLifetimeMs - tokens.leewayMs);
}

/** Retention: revocations made before this instant are deleted. */
export function retainedSince(tokens: Tokens, nowMs: number): Date {
  return new Date(openingSince(tokens, nowMs).getTime() - RETENTION_MARGIN_MS);
}
