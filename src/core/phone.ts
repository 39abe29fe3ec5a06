import { getCountryCallingCode, parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";
import type { Config } from "../config.js";
import { asciiDigits } from "../lib/digits.js";
import { AppError } from "./errors.js";
import { required } from "./required.js";

const MAX_PHONE_INPUT = 64;

/** Where numbers may come from: the region of numbers written without `+`, and the
 * regions allowed at all (undefined: every region). */
export type PhonePolicy = Pick<Config, "phoneDefaultRegion" | "phoneAllowedRegions">;

/**
 * Normalizes a phone number written in any common form (`+98…`, `0098…`, `0912…`,
 * spaces, dashes, Persian digits) to E.164, or throws `invalid_phone`. Only mobile
 * numbers of an allowed region are accepted: codes go out by SMS, and SMS to some
 * regions is where SMS-pumping fraud earns its money.
 */
export function normalizePhone(input: string, policy: PhonePolicy): string {
  if (input.length === 0 || input.length > MAX_PHONE_INPUT) throw new AppError("invalid_phone");
  const parsed = parsePhoneNumberFromString(asciiDigits(input).trim(), policy.phoneDefaultRegion as CountryCode);
  if (parsed === undefined || !parsed.isValid()) throw new AppError("invalid_phone");
  const type = parsed.getType();
  if (type !== "MOBILE" && type !== "FIXED_LINE_OR_MOBILE") throw new AppError("invalid_phone", "not a mobile number");
  // Non-geographic numbers (+800, +882…) have no region, so an allow-list refuses them.
  if (policy.phoneAllowedRegions !== undefined && !policy.phoneAllowedRegions.has(parsed.country ?? "")) {
    throw new AppError("invalid_phone", "region not allowed");
  }
  return parsed.number;
}

/** The phone a request names, as typed by a person: required, then normalized under
 * the configured policy. Every operation that takes a phone from outside starts here. */
export function requestedPhone(policy: PhonePolicy, input: string): string {
  return normalizePhone(required(input, "phone"), policy);
}

/**
 * The beginning of an E.164 number, from the beginning of a number as people type
 * one (`+98912`, `98912`, `0912`, `0098912`; Persian digits, spaces and dashes too):
 * `00` reads as `+`, and a single leading `0` as the default region's calling code,
 * as normalizePhone reads whole numbers. Undefined when the text is not such digits.
 */
export function phonePrefixOf(input: string, policy: Pick<PhonePolicy, "phoneDefaultRegion">): string | undefined {
  const typed = /^(\+?)(\d+)$/.exec(asciiDigits(input).replace(/[\s-]/g, ""));
  if (typed === null) return undefined;
  const [, plus, digits = ""] = typed;
  if (plus === "+" || !digits.startsWith("0")) return `+${digits}`;
  if (digits.startsWith("00")) return `+${digits.slice(2)}`;
  return `+${getCountryCallingCode(policy.phoneDefaultRegion as CountryCode)}${digits.slice(1)}`;
}
