import { AppError } from "../errors.js";
import type { OtpPurpose } from "./keys.js";

const PURPOSES: ReadonlySet<string> = new Set<OtpPurpose>(["register", "login"]);

/** The purpose a request names: a code is sent to register or to log in, for nothing else. */
export function requestedPurpose(value: string): OtpPurpose {
  if (!PURPOSES.has(value)) throw new AppError("validation_error", "purpose must be register or login", { field: "purpose" });
  return value as OtpPurpose;
}
