/**
 * The audit trail: every security-relevant change leaves an event. Changes kept in
 * PostgreSQL record theirs in the same statement or transaction (the repositories
 * take an {@link AuditNote} with the change); events about one-time codes, which
 * live in the key-value store, are appended right after.
 */
import type { ClientInfo } from "./sessions.js";

/** Every type of event (DESIGN.md, "Audit trail"). */
export const AUDIT_EVENT_TYPES = [
  "user.registered",
  "user.logged_in",
  "user.login_failed",
  "user.locked_out",
  "user.profile_updated",
  "otp.sent",
  "session.logged_out",
  "session.logged_out_all",
  "session.logged_out_others",
  "session.revoked",
  "session.reuse_detected",
  "admin.user_updated",
  "admin.sessions_revoked",
  "legacy.token_exchanged",
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Who made a change. */
export type Actor =
  | { kind: "user"; id: string }
  | { kind: "staff"; id: string }
  | { kind: "service"; name: string }
  | { kind: "system" };

/** `user:<id>`, `staff:<id>`, `service:<key name>` or `system`, as events spell it. */
export function actorName(actor: Actor): string {
  switch (actor.kind) {
    case "user":
    case "staff":
      return `${actor.kind}:${actor.id}`;
    case "service":
      return `service:${actor.name}`;
    case "system":
      return "system";
  }
}

/**
 * An event to record with a change. The store fills in what the change itself
 * decides: the user and session it touched, and the instant.
 */
export interface AuditNote {
  type: AuditEventType;
  /** Undefined: the user the change is about did it (`user:<their id>`). */
  actor?: Actor | undefined;
  /** The client of the request that made the change (null: none, e.g. the CLI). */
  client: ClientInfo | null;
  /** A small object; never a code, token, key or secret. */
  details?: Record<string, string | number | boolean | string[]> | undefined;
}

/** An event as the trail holds it. */
export interface AuditEvent {
  /** A decimal integer: later events have larger ids. */
  id: string;
  /** Millisecond precision. */
  at: Date;
  type: AuditEventType;
  userId: string | null;
  sessionId: string | null;
  actor: string;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
}

/** An event appended on its own (one-time codes: their state lives in Redis). */
export interface StandaloneAuditEvent extends AuditNote {
  at: Date;
  /** Null: about no user; then `actor` must be given (append refuses it otherwise). */
  userId: string | null;
  sessionId?: string | null;
}

/** Which events to list: newest `at` first, ties by larger `id` first. */
export interface AuditQuery {
  userId?: string | undefined;
  /** Exact types; undefined or empty: any. */
  types?: readonly AuditEventType[] | undefined;
  /** Inclusive. */
  since?: Date | undefined;
  /** Keyset paging: only events strictly after this one in the listing's order. */
  after?: { at: Date; id: string } | undefined;
  limit: number;
}

export interface AuditLog {
  append(event: StandaloneAuditEvent): Promise<void>;
  list(query: AuditQuery): Promise<AuditEvent[]>;
  /** One bounded batch: deletes up to `limit` events older than `before`; returns how many. */
  deleteOlderThan(before: Date, limit: number): Promise<number>;
}
