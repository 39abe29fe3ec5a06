/** Staff read the audit trail: newest first, by user, type and time, a page at a time. */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { AUDIT_EVENT_TYPES, type AuditEvent, type AuditEventType } from "../ports/audit.js";
import { requiredUserId } from "../users/id.js";
import { pageOf, pageSize, pageTokenKey, readPageToken, writePageToken } from "./paging.js";

export interface ListAuditEventsRequest {
  /** Only events about this user (a UUID); empty: any. */
  userId: string;
  /** Only events of this type; empty: any. */
  type: string;
  /** Only events at or after this instant. */
  since: Date | undefined;
  /** 0: the default. */
  pageSize: number;
  /** Empty: the first page. */
  pageToken: string;
}

export interface AuditListing {
  events: AuditEvent[];
  /** Empty on the last page. */
  nextPageToken: string;
}

const TYPES: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);

interface Filters {
  userId?: string;
  type?: AuditEventType;
  /** Milliseconds (events are kept to the millisecond). */
  since?: number;
}

function filtersOf(request: ListAuditEventsRequest): Filters {
  const filters: Filters = {};
  if (request.userId !== "") filters.userId = requiredUserId(request.userId, "user_id");
  if (request.type !== "") {
    if (!TYPES.has(request.type)) throw new AppError("validation_error", "type is not an audit event type", { field: "type" });
    filters.type = request.type as AuditEventType;
  }
  if (request.since !== undefined) {
    if (Number.isNaN(request.since.getTime())) throw new AppError("validation_error", "since is not an instant", { field: "since" });
    filters.since = request.since.getTime();
  }
  return filters;
}

/** A position as tokens hold it: the event's instant (ms) and id. */
interface HeldPosition {
  a: number;
  i: string;
}

function positionHeld(held: unknown): { at: Date; id: string } {
  const { a, i } = (held ?? {}) as Partial<HeldPosition>;
  // Only ever what listAuditEvents wrote (the token is signed); checked all the same.
  if (typeof a !== "number" || !Number.isSafeInteger(a) || typeof i !== "string" || !/^\d{1,19}$/.test(i)) {
    throw new AppError("validation_error", "page_token is malformed", { field: "page_token" });
  }
  return { at: new Date(a), id: i };
}

export async function listAuditEvents(deps: Pick<CoreDeps, "audit" | "otpKey">, request: ListAuditEventsRequest): Promise<AuditListing> {
  const limit = pageSize(request.pageSize);
  const filters = filtersOf(request);
  const key = pageTokenKey(deps.otpKey);
  const held = readPageToken(key, "audit", filters, request.pageToken);
  const events = await deps.audit.list({
    userId: filters.userId,
    types: filters.type === undefined ? undefined : [filters.type],
    since: filters.since === undefined ? undefined : new Date(filters.since),
    after: held === undefined ? undefined : positionHeld(held),
    limit: limit + 1,
  });
  const { page, nextPageToken } = pageOf(events, limit, (last) => writePageToken(key, "audit", filters, { a: last.at.getTime(), i: last.id } satisfies HeldPosition));
  return { events: page, nextPageToken };
}
