/**
 * The query string of an `/api` request: each parameter at most once (a repeated
 * one is ambiguous: `validation_error` naming it); parameters no route reads are
 * ignored, as unknown body fields are. Values are the service's business, except
 * their JSON-less types: whole numbers and instants are read here.
 */
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { AppError } from "../../src/core/errors.js";
import type { Exchange } from "../http/exchange.js";

export interface Query {
  /** The value of `name`; "" when absent (as an unset protobuf string). */
  text(name: string): string;
  /** A whole number; 0 when absent or empty (an unset protobuf number). */
  integer(name: string): number;
  /** An ISO 8601 instant with a time zone (`2026-01-02T03:04:05Z`, `…+03:30`); undefined when absent or empty. */
  instant(name: string): Timestamp | undefined;
}

const WHOLE = /^-?\d{1,16}$/;
/** Date and time (seconds optional), a fraction of a second, a zone. */
const INSTANT = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

export function queryOf(ex: Exchange): Query {
  const raw = ex.req.url ?? "";
  const params = new URLSearchParams(raw.includes("?") ? raw.slice(raw.indexOf("?") + 1) : "");
  const text = (name: string): string => {
    const values = params.getAll(name);
    if (values.length > 1) throw new AppError("validation_error", `${name} is given more than once`, { field: name });
    return values[0] ?? "";
  };
  return {
    text,
    integer(name) {
      const value = text(name);
      if (value === "") return 0;
      if (!WHOLE.test(value)) throw new AppError("validation_error", `${name} must be a whole number`, { field: name });
      return Number(value);
    },
    instant(name) {
      const value = text(name);
      if (value === "") return undefined;
      const ms = instantMs(value);
      if (ms === undefined) throw new AppError("validation_error", `${name} must be an ISO 8601 instant, e.g. 2026-01-02T03:04:05Z`, { field: name });
      return timestampFromDate(new Date(ms));
    },
  };
}

/** The instant an ISO 8601 date-time with a zone names; undefined for anything else,
 * a day that does not exist (Date.parse rolls 02-30 over to March) included. Digits
 * past the millisecond are dropped: instants are kept to the millisecond. */
function instantMs(value: string): number | undefined {
  const parts = INSTANT.exec(value);
  if (parts === null) return undefined;
  const [, time = "", fraction, zone = ""] = parts;
  if (fraction !== undefined && time.length !== 19) return undefined; // a fraction of a second needs the seconds
  const local = fraction === undefined ? time : `${time}.${fraction.slice(0, 3)}`;
  const ms = Date.parse(`${local}${zone}`);
  if (Number.isNaN(ms)) return undefined;
  const offset = zone === "Z" ? 0 : (zone.startsWith("-") ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  // The same wall-clock time written back: it differs when a field rolled over.
  return new Date(ms + offset * 60_000).toISOString().startsWith(local) ? ms : undefined;
}
