import { AppError } from "../errors.js";

export const MAX_NAME_LENGTH = 150;

/**
 * What a name may not hold, because it would display as something else or not as
 * text at all: control characters (Cc); format characters (Cf: bidi overrides,
 * isolates and marks, zero-width characters, the byte-order mark, soft hyphens, tag
 * characters); line and paragraph separators; private-use code points; lone
 * surrogates (PostgreSQL would store them as U+FFFD) and U+FFFD itself (what a
 * lenient decoder leaves of invalid UTF-8).
 */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}\uFFFD]/u;

/** The zero-width non-joiner is how Persian writes its half-space (حسین‌زاده); between
 * two Arabic-script characters it only stops the letters joining, so it stays. */
const ARABIC_SCRIPT_ZWNJ = /(?<=\p{scx=Arabic})\u200C(?=\p{scx=Arabic})/gu;

/** Trims and checks a given or family name; throws `validation_error` naming the field. */
export function cleanName(value: string, field: "first_name" | "last_name"): string {
  const name = value.normalize("NFC").trim();
  if ([...name].length > MAX_NAME_LENGTH) {
    throw new AppError("validation_error", `${field} must be at most ${MAX_NAME_LENGTH} characters`, { field });
  }
  if (FORBIDDEN.test(name.replace(ARABIC_SCRIPT_ZWNJ, ""))) {
    throw new AppError("validation_error", `${field} contains invisible or control characters`, { field });
  }
  return name;
}
