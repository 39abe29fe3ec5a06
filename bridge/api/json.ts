/** Protobuf messages → the JSON shapes of DESIGN.md (snake_case, ISO 8601 times). */
import type { MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { AuditEventSchema } from "../../gen/identity/v1/audit_pb.js";
import type { SessionSchema } from "../../gen/identity/v1/auth_pb.js";
import type { AdminUserSchema } from "../../gen/identity/v1/admin_pb.js";
import type { GetJwksResponseSchema } from "../../gen/identity/v1/token_pb.js";
import type { ClaimsUserSchema, TokenPairSchema, UserSchema } from "../../gen/identity/v1/user_pb.js";
import { jwkOfMessage } from "../../src/rpc/convert.js";

export function iso(timestamp: Timestamp | undefined): string | null {
  return timestamp === undefined ? null : timestampDate(timestamp).toISOString();
}

export function userJson(user: MessageShape<typeof UserSchema> | undefined) {
  if (user === undefined) return null;
  return {
    id: user.id,
    phone: user.phone,
    first_name: user.firstName,
    last_name: user.lastName,
    is_staff: user.isStaff,
    date_joined: iso(user.dateJoined),
    last_login: iso(user.lastLogin),
  };
}

/** A user as staff see them: the `user` object plus `is_active` and `live_sessions`. */
export function adminUserJson(admin: MessageShape<typeof AdminUserSchema> | undefined) {
  if (admin === undefined) return null;
  return { ...userJson(admin.user), is_active: admin.isActive, live_sessions: admin.liveSessions };
}

export function claimsUserJson(user: MessageShape<typeof ClaimsUserSchema> | undefined) {
  if (user === undefined) return null;
  return { id: user.id, phone: user.phone, first_name: user.firstName, last_name: user.lastName, is_staff: user.isStaff };
}

export function tokensJson(tokens: MessageShape<typeof TokenPairSchema> | undefined) {
  if (tokens === undefined) return null;
  return {
    access: tokens.access,
    refresh: tokens.refresh,
    access_expires_at: iso(tokens.accessExpiresAt),
    refresh_expires_at: iso(tokens.refreshExpiresAt),
  };
}

/** proto3's "" for a string that is absent, as JSON's null. */
function orNull(text: string): string | null {
  return text === "" ? null : text;
}

/**
 * An audit event: `at` in ISO 8601 with milliseconds; a user, session, ip or
 * user_agent the event has none of is null (never ""), as `last_login` is.
 */
export function auditEventJson(event: MessageShape<typeof AuditEventSchema>) {
  return {
    id: event.id,
    at: iso(event.at),
    type: event.type,
    user_id: orNull(event.userId),
    session_id: orNull(event.sessionId),
    actor: event.actor,
    ip: orNull(event.ip),
    user_agent: orNull(event.userAgent),
    details: event.details ?? {},
  };
}

export type AuditEventJson = ReturnType<typeof auditEventJson>;

/** A session of the caller's list. What it did not record (an IP, a User-Agent) is
 * null, as a time that is not there is (`last_login`): protobuf's empty string is
 * no value a client should show. */
export function sessionJson(session: MessageShape<typeof SessionSchema>) {
  return {
    id: session.id,
    created_at: iso(session.createdAt),
    last_used_at: iso(session.lastUsedAt),
    expires_at: iso(session.expiresAt),
    ip: orNull(session.ip),
    user_agent: orNull(session.userAgent),
    current: session.current,
  };
}

/** A JWKS document: each key with only the members its type has. */
export function jwksJson(response: MessageShape<typeof GetJwksResponseSchema>) {
  return { keys: response.keys.map(jwkOfMessage) };
}
