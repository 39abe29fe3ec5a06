/**
 * Sessions for core's session tests: a user signed up through the one way a session
 * starts, the claims of what was issued, and the reason of a refusal.
 */
import { decodeJwt } from "jose";
import { pino } from "pino";
import { expect } from "vitest";
import { AppError, type Reason } from "../../../src/core/errors.js";
import { authenticateAccess, type Caller } from "../../../src/core/tokens/authenticate.js";
import { userOfClaims, type TokenClaims } from "../../../src/core/tokens/claims.js";
import { signToken } from "../../../src/core/tokens/sign.js";
import type { ClientInfo } from "../../../src/core/ports/sessions.js";
import { startSession, type SignedIn } from "../../../src/core/sessions/start.js";
import { freshPhone } from "../../support/phones.js";
import type { CoreLab } from "./core-deps.js";

/** The client the lab's sessions are opened from, unless a test names another. */
export const TEST_CLIENT: ClientInfo = { ip: "203.0.113.7", userAgent: "Mozilla/5.0 (X11; Linux x86_64) vitest" };

/** A new user with a first session. */
export async function signUp(lab: CoreLab, names = { firstName: "Sara", lastName: "Ahmadi" }, client: ClientInfo = TEST_CLIENT): Promise<SignedIn> {
  const signedIn = await startSession(lab.deps, { kind: "new", phone: freshPhone().e164, ...names }, client);
  if (signedIn === undefined) throw new Error("the fresh phone was taken");
  return signedIn;
}

/** Another session of an existing user. */
export async function signIn(lab: CoreLab, phone: string, client: ClientInfo = TEST_CLIENT): Promise<SignedIn> {
  const signedIn = await startSession(lab.deps, { kind: "existing", phone }, client);
  if (signedIn === undefined) throw new Error(`no active user has ${phone}`);
  return signedIn;
}

/** The claims a token carries (issued by the lab: no need to verify them here). */
export function claimsOf(token: string): TokenClaims {
  return decodeJwt(token) as TokenClaims;
}

/** The caller behind an access token, as every authenticated call sees it. */
export function callerOf(lab: CoreLab, access: string): Promise<Caller> {
  return authenticateAccess(lab.deps, access);
}

/** The reason `promise` was refused with; fails when it resolves or throws anything else. */
export async function refusal(promise: Promise<unknown>): Promise<Reason> {
  const error: unknown = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(AppError);
  return (error as AppError).reason;
}

/** The whole AppError `promise` was refused with. */
export async function refusalOf(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

/** A refresh token signed with the lab's own key, as `token` but with other ids:
 * what only a holder of the signing key could present (a store that lost rows,
 * or ids crossed between sessions). */
export function resigned(lab: CoreLab, token: string, ids: { jti?: string; sid?: string }): string {
  const claims = claimsOf(token);
  return signToken(
    lab.deps.keys,
    { type: claims.token_type, jti: ids.jti ?? claims.jti, sid: ids.sid ?? claims.sid, user: userOfClaims(claims), issuedAtMs: claims.iat * 1000, expiresAtMs: claims.exp * 1000 },
    { issuer: lab.config.tokens.issuer, audience: lab.config.tokens.audience },
  );
}

/** A log line as pino writes it. */
export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** Makes core log to a list from now on (warnings and worse), and returns the list. */
export function capturedLogs(lab: CoreLab): LogLine[] {
  const lines: LogLine[] = [];
  lab.deps.log = pino({ level: "warn", base: null, timestamp: false }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return lines;
}
