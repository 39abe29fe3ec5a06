import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";
import { asciiDigits } from "../lib/digits.js";
import { AppError } from "./errors.js";

const MAX_PHONE_INPUT = 64;

/** Where numbers may come from: the region of numbers written without `+`, and the
 * regions allowed at all (undefined: every region). */
export interface PhonePolicy {
  defaultRegion: string;
  allowedRegions: ReadonlySet<string> | undefined;
}

/**
 * Normalizes a phone number written in any common form (`+98…`, `0098…`, `0912…`,
 * spaces, dashes, Persian digits) to E.164, or throws `invalid_phone`. Only mobile
 * numbers of an allowed region are accepted: codes go out by SMS, and SMS to some
 * regions is where SMS-pumping fraud earns its money.
 */
export function normalizePhone(input: string, policy: PhonePolicy): string {
  if (input.length === 0 || input.length > MAX_PHONE_INPUT) throw new AppError("invalid_phone");
  const parsed = parsePhoneNumberFromString(asciiDigits(input).trim(), policy.defaultRegion as CountryCode);
  if (parsed === undefined || !parsed.isValid()) throw new AppError("invalid_phone");
  const type = parsed.getType();
  if (type !== "MOBILE" && type !== "FIXED_LINE_OR_MOBILE") throw new AppError("invalid_phone", "not a mobile number");
  // Non-geographic numbers (+800, +882…) have no region, so an allow-list refuses them.
  if (policy.allowedRegions !== undefined && !policy.allowedRegions.has(parsed.country ?? "")) {
    throw new AppError("invalid_phone", "region not allowed");
  }
  return parsed.number;
}
