import { AppError } from "../errors.js";

export const MAX_NAME_LENGTH = 150;

/** Control characters, bidi overrides and isolates, zero-width characters: they
 * can make a name display as something else, so they are refused. */
const FORBIDDEN = /[\p{Cc}\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/u;

/** Trims and checks a given or family name; throws `validation_error` naming the field. */
export function cleanName(value: string, field: "first_name" | "last_name"): string {
  const name = value.normalize("NFC").trim();
  if ([...name].length > MAX_NAME_LENGTH) {
    throw new AppError("validation_error", `${field} must be at most ${MAX_NAME_LENGTH} characters`, { field });
  }
  if (FORBIDDEN.test(name)) throw new AppError("validation_error", `${field} contains invisible or control characters`, { field });
  return name;
}
