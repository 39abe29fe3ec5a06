/**
 * Staff find users: by phone exactly, by the beginning of a phone or a part of a
 * name, or everyone, newest first, a page at a time.
 */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { normalizePhone, phonePrefixOf } from "../phone.js";
import type { AdminUserView, UserPosition, UserSearch } from "../ports/users.js";
import { MAX_NAME_LENGTH } from "../users/names.js";
import { pageOf, pageSize, pageTokenKey, readPageToken, writePageToken } from "./paging.js";

export interface ListUsersRequest {
  /** A phone prefix (digits, with or without `+`) or a part of a first or last name; empty: anyone. */
  query: string;
  /** A phone in any spelling send-otp accepts, matched exactly; empty: any. */
  phone: string;
  /** 0: the default. */
  pageSize: number;
  /** Empty: the first page. */
  pageToken: string;
}

export interface UserListing {
  users: AdminUserView[];
  /** Empty on the last page. */
  nextPageToken: string;
}

type Filters = Pick<UserSearch, "phone" | "phonePrefix" | "namePart">;

/** What a request's `phone` and `query` ask for, in the form page tokens are bound to. */
function filtersOf(deps: Pick<CoreDeps, "config">, request: Pick<ListUsersRequest, "phone" | "query">): Filters {
  const filters: Filters = {};
  if (request.phone !== "") {
    try {
      filters.phone = normalizePhone(request.phone, deps.config);
    } catch (error) {
      throw error instanceof AppError ? new AppError(error.reason, error.message, { field: "phone" }) : error;
    }
  }
  const query = request.query.normalize("NFC").trim();
  if ([...query].length > MAX_NAME_LENGTH) throw new AppError("validation_error", `query must be at most ${MAX_NAME_LENGTH} characters`, { field: "query" });
  if (query === "") return filters;
  const prefix = phonePrefixOf(query, deps.config);
  if (prefix !== undefined) filters.phonePrefix = prefix;
  else filters.namePart = query;
  return filters;
}

/** A position as tokens hold it: the microseconds as a decimal string (JSON has no bigint). */
interface HeldPosition {
  d: string;
  i: string;
}

function heldPosition(position: UserPosition): HeldPosition {
  return { d: position.dateJoinedMicros.toString(), i: position.id };
}

function positionHeld(held: unknown): UserPosition {
  const { d, i } = (held ?? {}) as Partial<HeldPosition>;
  // Only ever what heldPosition wrote (the token is signed); checked all the same.
  if (typeof d !== "string" || !/^-?\d{1,19}$/.test(d) || typeof i !== "string") throw new AppError("validation_error", "page_token is malformed", { field: "page_token" });
  return { dateJoinedMicros: BigInt(d), id: i };
}

export async function listUsers(deps: Pick<CoreDeps, "config" | "clock" | "users" | "otpKey">, request: ListUsersRequest): Promise<UserListing> {
  const limit = pageSize(request.pageSize);
  const filters = filtersOf(deps, request);
  const key = pageTokenKey(deps.otpKey);
  const held = readPageToken(key, "users", filters, request.pageToken);
  const after = held === undefined ? undefined : positionHeld(held);
  const listed = await deps.users.search({ ...filters, after, limit: limit + 1, now: new Date(deps.clock.now()) });
  const { page, nextPageToken } = pageOf(listed, limit, (last) => writePageToken(key, "users", filters, heldPosition(last.position)));
  return { users: page.map(({ user, liveSessions }) => ({ user, liveSessions })), nextPageToken };
}
