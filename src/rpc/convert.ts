/** Domain values → protobuf message shapes. */
import type { JsonObject, JsonValue, MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { AuditEvent } from "../core/ports/audit.js";
import type { ListedSession } from "../core/sessions/list.js";
import type { AccessVerdict } from "../core/tokens/authenticate.js";
import type { TokenPair } from "../core/tokens/issue.js";
import type { TokenUser } from "../core/tokens/claims.js";
import type { AdminUserView, User } from "../core/ports/users.js";
import type { AdminUserSchema } from "../../gen/identity/v1/admin_pb.js";
import type { SessionSchema } from "../../gen/identity/v1/auth_pb.js";
import type { ClaimsUserSchema, TokenPairSchema, UserSchema } from "../../gen/identity/v1/user_pb.js";
import type { Jwk, JwkSchema, VerifyResponseSchema } from "../../gen/identity/v1/token_pb.js";
import { PUBLISHED_JWK_MEMBERS, type PublishedJwk } from "../core/tokens/keys.js";
import type { AuditEventSchema } from "../../gen/identity/v1/audit_pb.js";

export function timestamp(date: Date): Timestamp {
  return timestampFromMs(date.getTime());
}

export function userMessage(user: User): MessageInitShape<typeof UserSchema> {
  return {
    id: user.id,
    phone: user.phone,
    firstName: user.firstName,
    lastName: user.lastName,
    isStaff: user.isStaff,
    dateJoined: timestamp(user.dateJoined),
    lastLogin: user.lastLogin === null ? undefined : timestamp(user.lastLogin),
  };
}

/** A user as staff see them. */
export function adminUserMessage(view: AdminUserView): MessageInitShape<typeof AdminUserSchema> {
  return { user: userMessage(view.user), isActive: view.user.isActive, liveSessions: view.liveSessions };
}

export function claimsUserMessage(user: TokenUser): MessageInitShape<typeof ClaimsUserSchema> {
  return { id: user.id, phone: user.phone, firstName: user.first_name, lastName: user.last_name, isStaff: user.is_staff };
}

/** Verify's answer (the service's, and a backend's local verifier's). */
export function verifyResponseMessage(verdict: AccessVerdict): MessageInitShape<typeof VerifyResponseSchema> {
  if (!verdict.valid) return { valid: false, reason: verdict.reason };
  return { valid: true, tokenType: "access", expiresAt: timestamp(verdict.expiresAt), user: claimsUserMessage(verdict.user) };
}

/** A published key as a Jwk message: a member its type lacks is "" in the message. */
export function jwkMessage(key: PublishedJwk): MessageInitShape<typeof JwkSchema> {
  return Object.fromEntries(PUBLISHED_JWK_MEMBERS.map((member) => [member, key[member] ?? ""]));
}

/** A Jwk message as a JWK again: only the members its type has (the "" ones left out). */
export function jwkOfMessage(message: Jwk): PublishedJwk {
  const jwk: PublishedJwk = {};
  for (const member of PUBLISHED_JWK_MEMBERS) {
    if (message[member] !== "") jwk[member] = message[member];
  }
  return jwk;
}

export function tokenPairMessage(tokens: TokenPair): MessageInitShape<typeof TokenPairSchema> {
  return {
    access: tokens.access,
    refresh: tokens.refresh,
    accessExpiresAt: timestamp(tokens.accessExpiresAt),
    refreshExpiresAt: timestamp(tokens.refreshExpiresAt),
  };
}

/** An audit event; what it lacks (user, session, ip, user agent) is "" as proto3 has it. */
export function auditEventMessage(event: AuditEvent): MessageInitShape<typeof AuditEventSchema> {
  return {
    id: event.id,
    at: timestamp(event.at),
    type: event.type,
    userId: event.userId ?? "",
    sessionId: event.sessionId ?? "",
    actor: event.actor,
    ip: event.ip ?? "",
    userAgent: event.userAgent ?? "",
    details: jsonObject(event.details),
  };
}

/** The details as a google.protobuf.Struct holds them: JSON values only (they come
 * from a jsonb column, so nothing is lost; anything else is left out, never thrown on). */
function jsonObject(details: Readonly<Record<string, unknown>>): JsonObject {
  const object: JsonObject = {};
  for (const [name, value] of Object.entries(details)) {
    const json = jsonValue(value);
    if (json !== undefined) object[name] = json;
  }
  return object;
}

function jsonValue(value: unknown): JsonValue | undefined {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (Array.isArray(value)) return value.flatMap((item) => jsonValue(item) ?? []);
  if (typeof value === "object") return jsonObject(value as Record<string, unknown>);
  return undefined;
}
/** A session; a client it did not record (ip, user_agent) is the empty string, as proto3 has it. */
export function sessionMessage(session: ListedSession): MessageInitShape<typeof SessionSchema> {
  return {
    id: session.id,
    createdAt: timestamp(session.createdAt),
    lastUsedAt: timestamp(session.lastUsedAt),
    expiresAt: timestamp(session.expiresAt),
    ip: session.ip ?? "",
    userAgent: session.userAgent ?? "",
    current: session.current,
  };
}
