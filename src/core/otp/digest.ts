import { createHmac } from "node:crypto";
import type { OtpPurpose } from "./keys.js";

/** Codes are kept only as a keyed hash bound to phone and purpose, so a stolen
 * store reveals no code and a code for one phone or purpose matches no other. */
export function codeDigest(key: Uint8Array, phone: string, purpose: OtpPurpose, code: string): string {
  return createHmac("sha256", key).update(`${purpose}\0${phone}\0${code}`).digest("base64url");
}

