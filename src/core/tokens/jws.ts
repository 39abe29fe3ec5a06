/**
 * The JWS half of a token: its protected header, and its signature checked with
 * node:crypto. jose's jwtVerify did this through WebCrypto, which on Node 20 costs a
 * job, WebIDL conversion and algorithm normalization per call (about half the CPU of
 * a verification); node:crypto verifies synchronously. The rules and the refusal
 * codes are the ones jose applied, so the reasons logged stay the same.
 */
import { createHmac, timingSafeEqual, verify, type KeyObject } from "node:crypto";
import type { JwtAlgorithm } from "../../config.js";
import type { VerifyingKeys } from "./keys.js";

const ALLOWED_HEADER = new Set(["alg", "kid", "typ"]);
/** The only header parameter jose understood as critical (RFC 7797 unencoded payload). */
const RECOGNIZED_CRIT = "b64";
/** What each algorithm's key must be (the key ring labels keys; this keeps a label from lying). */
const KEY_TYPE: Record<JwtAlgorithm, string> = { HS256: "secret", ES256: "ec", EdDSA: "ed25519", RS256: "rsa" };
/** ES256 is raw r||s (RFC 7518 §3.4), Ed25519 R||S; HMAC-SHA256 a 32-byte tag. */
const SIGNATURE_BYTES: Partial<Record<JwtAlgorithm, number>> = { HS256: 32, ES256: 64, EdDSA: 64 };
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A segment's JSON object, or undefined when the segment is not UTF-8 JSON of a plain
 * object (an array, null, a string ...). The segment must already be canonical base64url.
 */
export function jsonObjectOf(segment: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, "base64url")));
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * Why the header or signature of `header.payload.signature` (canonical segments) is
 * refused, as jose's error code, or undefined when a configured key signed it.
 */
export function jwsRefusal(keys: VerifyingKeys, segments: readonly [string, string, string]): string | undefined {
  const header = jsonObjectOf(segments[0]);
  if (header === undefined) return "ERR_JWS_INVALID";
  if (header.crit !== undefined) return critRefusal(header);
  const { alg, kid, typ } = header;
  if (typeof alg !== "string" || alg === "") return "ERR_JWS_INVALID";
  if (!(keys.algorithms as readonly string[]).includes(alg)) return "ERR_JOSE_ALG_NOT_ALLOWED";
  for (const name of Object.keys(header)) {
    if (!ALLOWED_HEADER.has(name)) return "ERR_JWS_INVALID";
  }
  // Explicit typing (RFC 8725 §3.11): this service writes "JWT" and nothing else.
  if (typ !== undefined && typ !== "JWT") return "ERR_JWS_INVALID";
  // `kid` only selects among configured keys, and the key's own algorithm must match.
  const entry = typeof kid === "string" ? keys.verification.get(kid) : undefined;
  if (entry === undefined || entry.alg !== alg) return "ERR_JWKS_NO_MATCHING_KEY";
  const signature = Buffer.from(segments[2], "base64url");
  if (!signatureValid(entry.alg, entry.key, `${segments[0]}.${segments[1]}`, signature)) return "ERR_JWS_SIGNATURE_VERIFICATION_FAILED";
  return undefined;
}

/**
 * A header with `crit` is always refused (crit is not an accepted parameter); the code
 * is jose's: an extension it does not know is "not supported", a malformed list invalid.
 */
function critRefusal(header: Record<string, unknown>): string {
  const { crit } = header;
  if (!Array.isArray(crit) || crit.length === 0 || crit.some((name) => typeof name !== "string" || name === "")) return "ERR_JWS_INVALID";
  for (const name of crit) {
    if (name !== RECOGNIZED_CRIT) return "ERR_JOSE_NOT_SUPPORTED";
    if (header[name] === undefined) return "ERR_JWS_INVALID";
  }
  return "ERR_JWS_INVALID";
}

/** Over the ASCII bytes of `input`; whatever node:crypto throws (a malformed signature) is a bad signature. */
function signatureValid(alg: JwtAlgorithm, key: KeyObject, input: string, signature: Buffer): boolean {
  if ((key.type === "secret" ? "secret" : key.asymmetricKeyType) !== KEY_TYPE[alg]) return false;
  const length = SIGNATURE_BYTES[alg];
  if (length !== undefined && signature.length !== length) return false;
  const data = Buffer.from(input, "latin1");
  try {
    switch (alg) {
      case "HS256":
        return timingSafeEqual(createHmac("sha256", key).update(data).digest(), signature);
      case "ES256":
        return verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature);
      case "EdDSA":
        return verify(null, data, key, signature);
      case "RS256":
        return verify("sha256", data, key, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}
