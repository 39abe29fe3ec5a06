import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";
import { asciiDigits } from "../lib/digits.js";
import { AppError } from "./errors.js";


const MAX_PHONE_INPUT = 64;

/**
 * Normalizes a phone number written in any common form (`+98…`, `0098…`, `0912…`,
 * spaces, dashes, Persian digits) to E.164, or throws `invalid_phone`. Only mobile
 * numbers are accepted: codes go out by SMS.
 */
export function normalizePhone(input: string, defaultRegion: string): string {
  if (input.length === 0 || input.length > MAX_PHONE_INPUT) throw new AppError("invalid_phone");
  const parsed = parsePhoneNumberFromString(asciiDigits(input).trim(), defaultRegion as CountryCode);
  if (parsed === undefined || !parsed.isValid()) throw new AppError("invalid_phone");
  const type = parsed.getType();
  if (type !== "MOBILE" && type !== "FIXED_LINE_OR_MOBILE") throw new AppError("invalid_phone", "not a mobile number");
  return parsed.number;
}
