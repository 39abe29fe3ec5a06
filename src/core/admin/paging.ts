/**
 * Paging of the staff listings: a page size within bounds, and opaque page tokens.
 * A token holds the listing's place (keyset paging: pages neither skip nor repeat
 * while rows are added) and is signed together with the listing and its filters, so
 * a forged or altered token, or one from another query, is refused: it can never
 * read outside the query it came from.
 */
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { AppError } from "../errors.js";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** The page size asked for; 0 (unset) is the default. */
export function pageSize(requested: number): number {
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(requested) || requested < 0 || requested > MAX_PAGE_SIZE) {
    throw new AppError("validation_error", `page_size must be between 1 and ${MAX_PAGE_SIZE}`, { field: "page_size" });
  }
  return requested;
}

/** Signs page tokens; derived from the key the code digests use (itself derived
 * from the signing key), under a label of its own. */
export type PageTokenKey = Uint8Array;

const keys = new WeakMap<Uint8Array, PageTokenKey>();

export function pageTokenKey(otpKey: Uint8Array): PageTokenKey {
  let key = keys.get(otpKey);
  if (key === undefined) keys.set(otpKey, (key = new Uint8Array(hkdfSync("sha256", otpKey, "identity-service", "page-token", 32))));
  return key;
}

/** Longer than any token written here: anything longer is refused unread. */
const MAX_TOKEN_LENGTH = 512;
const MAC_BYTES = 16;
/** A place and its signature (16 bytes: 22 characters), both base64url. */
const TOKEN = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/;

function mac(key: PageTokenKey, listing: string, filters: unknown, place: string): Buffer {
  return createHmac("sha256", key).update(`${listing}\n${JSON.stringify(filters)}\n${place}`).digest().subarray(0, MAC_BYTES);
}

/** A token for the page after `position` of `listing` under `filters` (JSON values). */
export function writePageToken(key: PageTokenKey, listing: string, filters: unknown, position: unknown): string {
  const place = Buffer.from(JSON.stringify(position)).toString("base64url");
  return `${place}.${mac(key, listing, filters, place).toString("base64url")}`;
}

/** The position a token holds, when it was written for this listing and these
 * filters; undefined for no token (the first page); `validation_error` naming
 * `page_token` otherwise. */
export function readPageToken(key: PageTokenKey, listing: string, filters: unknown, token: string): unknown {
  if (token === "") return undefined;
  const refused = new AppError("validation_error", "page_token is not a token of this listing", { field: "page_token" });
  // Strictly base64url: Node's decoder skips stray characters, which would let
  // altered tokens through.
  const parts = token.length <= MAX_TOKEN_LENGTH ? TOKEN.exec(token) : null;
  if (parts === null) throw refused;
  const [, place = "", signature = ""] = parts;
  // Compared as written: several spellings decode to the same bytes.
  if (!timingSafeEqual(Buffer.from(signature), Buffer.from(mac(key, listing, filters, place).toString("base64url")))) throw refused;
  try {
    return JSON.parse(Buffer.from(place, "base64url").toString("utf8")) as unknown;
  } catch {
    throw refused;
  }
}

/** A page of `rows`, read with one more than `limit` asked for (so whether a next
 * page exists needs no count), and the token of the next page: empty on the last. */
export function pageOf<T>(rows: T[], limit: number, tokenAfter: (last: T) => string): { page: T[]; nextPageToken: string } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, nextPageToken: rows.length > limit && last !== undefined ? tokenAfter(last) : "" };
}
