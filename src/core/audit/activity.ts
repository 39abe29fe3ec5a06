/**
 * A person's recent security activity: their own audit events about their account
 * and sessions (`user.*`, `session.*`), newest first. One-time codes and staff
 * actions are left out: a code sent to a number says nothing the person did, and
 * staff events are for staff (ListAuditEvents).
 */
import type { CoreDeps } from "../deps.js";
import { AUDIT_EVENT_TYPES, type AuditEvent, type AuditEventType } from "../ports/audit.js";
import type { Caller } from "../tokens/authenticate.js";

/** How many events the activity list shows (DESIGN: the 50 newest). */
export const ACTIVITY_LIMIT = 50;

/** The types a person sees of their own trail. */
export const ACTIVITY_TYPES: readonly AuditEventType[] = AUDIT_EVENT_TYPES.filter((type) => type.startsWith("user.") || type.startsWith("session."));

export async function listActivity(deps: Pick<CoreDeps, "audit">, caller: Caller): Promise<AuditEvent[]> {
  return deps.audit.list({ userId: caller.user.id, types: ACTIVITY_TYPES, limit: ACTIVITY_LIMIT });
}
