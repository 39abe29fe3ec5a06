/**
 * The key ring: the one key that signs, and every key that may verify (the signing
 * key's public half plus JWT_VERIFY_KEYS, so keys can be rotated without logging
 * anyone out). A token's `kid` only selects among these keys; nothing in a token
 * can add one.
 */
import { createHash, createPublicKey, createSecretKey, KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, importSPKI, type JWK } from "jose";
import { ConfigError, hs256SecretProblem, type JwtAlgorithm } from "../../config.js";


export interface VerificationKey {
  kid: string;
  alg: JwtAlgorithm;
  /** A node:crypto key (public, or the HS256 secret): tokens are verified with node:crypto (jws.ts). */
  key: KeyObject;
}

export interface KeyRing {
  /** A node:crypto key: signing goes through node:crypto, several times faster than
   * WebCrypto on Node 20 (so does verification; jose only reads and writes keys). */
  signing: { kid: string; alg: JwtAlgorithm; key: KeyObject };
  /** kid → key; includes the signing key's verification half. */
  verification: ReadonlyMap<string, VerificationKey>;
  /** Algorithms of the verification keys: the allow-list for a token header's `alg`. */
  algorithms: readonly JwtAlgorithm[];
  /** Public JWKs, signing key first (empty when only HS256 keys exist). */
  jwks: readonly PublicJwk[];
}

/** What checking a signature needs: no signing key (a backend verifying on its own holds only public keys). */
export type VerifyingKeys = Pick<KeyRing, "verification" | "algorithms">;

export interface PublicJwk extends JWK {
  kid: string;
  alg: JwtAlgorithm;
  use: "sig";
}

/** A key that cannot be used: a configuration error found once the key is read. The
 * message is safe to print (it holds no key material). */
export class KeyError extends ConfigError {
  declare readonly variable: "JWT_SIGNING_KEY" | "JWT_VERIFY_KEYS";

  constructor(variable: "JWT_SIGNING_KEY" | "JWT_VERIFY_KEYS", problem: string) {
    super(variable, problem);
    this.name = "KeyError";
  }
}

/** The members of a published key (what GetJwks carries, /api/jwks/ and `identity keys jwks` show). */
export const PUBLISHED_JWK_MEMBERS = ["kty", "kid", "use", "alg", "crv", "x", "y", "n", "e"] as const;
export type PublishedJwk = Partial<Record<(typeof PUBLISHED_JWK_MEMBERS)[number], string>>;

/** The ring's public JWKS, each key with only the members its type has (none for HS256 secrets). */
export function publishedJwks(keys: KeyRing): { keys: PublishedJwk[] } {
  return {
    keys: keys.jwks.map((jwk) => {
      const published: PublishedJwk = {};
      for (const member of PUBLISHED_JWK_MEMBERS) {
        const value: unknown = jwk[member];
        if (typeof value === "string" && value !== "") published[member] = value;
      }
      return published;
    }),
  };
}

/** A new private key for JWT_SIGNING_KEY, as PKCS#8 PEM (RS256: 2048 bits). */
export async function generateSigningKey(algorithm: Exclude<JwtAlgorithm, "HS256">): Promise<string> {
  const { privateKey } = await generateKeyPair(algorithm, { extractable: true, modulusLength: MIN_RSA_BITS });
  return exportPKCS8(privateKey);
}

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"] as const;
const MIN_RSA_BITS = 2048;

export async function createKeyRing(options: {
  algorithm: JwtAlgorithm;
  /** HS secret, or private key as PKCS#8 PEM or JWK JSON. */
  signingKey: string;
  verifyKeys?: string | undefined;
}): Promise<KeyRing> {
  const { algorithm } = options;
  const verification = new Map<string, VerificationKey>();
  const jwks: PublicJwk[] = [];
  let signing: KeyRing["signing"];

  if (algorithm === "HS256") {
    const secret = hsSecret("JWT_SIGNING_KEY", options.signingKey);
    const kid = hsKid(secret);
    const key = createSecretKey(secret);
    signing = { kid, alg: "HS256", key };
    verification.set(kid, { kid, alg: "HS256", key });
  } else {
    const privateKey = await importPrivate(options.signingKey, algorithm);
    const publicJwk = await publicJwkOf(privateKey, algorithm);
    signing = { kid: publicJwk.kid, alg: algorithm, key: KeyObject.from(privateKey) };
    verification.set(publicJwk.kid, { kid: publicJwk.kid, alg: algorithm, key: createPublicKey(signing.key) });
    jwks.push(publicJwk);
  }

  for (const extra of await parseVerifyKeys(options.verifyKeys, algorithm)) {
    if (verification.has(extra.kid)) continue;
    verification.set(extra.kid, extra.key);
    if (extra.jwk) jwks.push(extra.jwk);
  }

  const algorithms = [...new Set([...verification.values()].map((k) => k.alg))];
  return { signing, verification, algorithms, jwks };
}

function hsSecret(variable: KeyError["variable"], text: string): Uint8Array {
  const secret = new TextEncoder().encode(text);
  const problem = hs256SecretProblem(secret);
  if (problem !== undefined) throw new KeyError(variable, problem);
  return secret;
}

/** A kid for a shared secret: a hash, so the secret itself is never published. */
function hsKid(secret: Uint8Array): string {
  return createHash("sha256").update("identity-hs256-kid:").update(secret).digest("base64url").slice(0, 16);
}

async function importPrivate(text: string, alg: Exclude<JwtAlgorithm, "HS256">): Promise<CryptoKey> {
  let key: CryptoKey;
  try {
    if (text.trimStart().startsWith("{")) {
      const jwk = JSON.parse(text) as JWK;
      if (typeof jwk.d !== "string") throw new Error("not a private JWK");
      const imported = await importJWK(jwk, alg, { extractable: true });
      if (imported instanceof Uint8Array) throw new Error("not an asymmetric key");
      key = imported;
    } else {
      key = await importPKCS8(text.replace(/\\n/g, "\n"), alg, { extractable: true });
    }
  } catch {
    throw new KeyError("JWT_SIGNING_KEY", `not a ${alg} private key (PKCS#8 PEM or private JWK expected)`);
  }
  checkStrength("JWT_SIGNING_KEY", key);
  return key;
}

function checkStrength(variable: KeyError["variable"], key: CryptoKey): void {
  const algorithm = key.algorithm as RsaHashedKeyAlgorithm;
  if (algorithm.name.startsWith("RSA") && algorithm.modulusLength < MIN_RSA_BITS) {
    throw new KeyError(variable, `RSA keys must have at least ${MIN_RSA_BITS} bits`);
  }
}

async function publicJwkOf(privateKey: CryptoKey, alg: JwtAlgorithm): Promise<PublicJwk> {
  const jwk = await exportJWK(privateKey);
  for (const member of PRIVATE_MEMBERS) delete jwk[member];
  delete jwk.key_ops;
  delete jwk.ext;
  const kid = await calculateJwkThumbprint(jwk);
  return { ...jwk, kid, alg, use: "sig" };
}

interface ExtraKey {
  kid: string;
  key: VerificationKey;
  jwk?: PublicJwk;
}

/**
 * JWT_VERIFY_KEYS: a JWKS document or JSON array of public JWKs, one or more PEM
 * public keys (SPKI), or comma-separated HS256 secrets.
 */
async function parseVerifyKeys(text: string | undefined, signingAlg: JwtAlgorithm): Promise<ExtraKey[]> {
  if (text === undefined) return [];
  const trimmed = text.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) return parseJwks(trimmed);
  if (trimmed.includes("-----BEGIN")) return parsePems(trimmed.replace(/\\n/g, "\n"), signingAlg);
  return trimmed.split(",").map((s) => {
    const secret = hsSecret("JWT_VERIFY_KEYS", s.trim());
    const kid = hsKid(secret);
    return { kid, key: { kid, alg: "HS256" as const, key: createSecretKey(secret) } };
  });
}

async function parseJwks(text: string): Promise<ExtraKey[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new KeyError("JWT_VERIFY_KEYS", "is not valid JSON");
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(list)) throw new KeyError("JWT_VERIFY_KEYS", "JSON must be a JWKS ({\"keys\": [...]}) or an array of JWKs");
  return importPublicJwks(list as JWK[]);
}

/**
 * The keys of a published JWKS (GetJwks), held to the same rules as JWT_VERIFY_KEYS:
 * public keys of the three algorithms, strong enough. Throws KeyError otherwise.
 */
export async function verifyingKeysOfJwks(list: readonly JWK[]): Promise<VerifyingKeys> {
  const verification = new Map<string, VerificationKey>();
  for (const extra of await importPublicJwks(list)) verification.set(extra.kid, extra.key);
  return { verification, algorithms: [...new Set([...verification.values()].map((k) => k.alg))] };
}

async function importPublicJwks(list: readonly JWK[]): Promise<ExtraKey[]> {
  const keys: ExtraKey[] = [];
  for (const item of list) {
    if (PRIVATE_MEMBERS.some((m) => m in item)) throw new KeyError("JWT_VERIFY_KEYS", "must hold public keys only");
    const alg = algorithmOfJwk(item);
    let imported: CryptoKey | Uint8Array;
    try {
      imported = await importJWK(item, alg, { extractable: true });
    } catch {
      throw new KeyError("JWT_VERIFY_KEYS", "holds a JWK that cannot be imported");
    }
    // An asymmetric alg always imports as a CryptoKey; the check keeps the type honest.
    if (imported instanceof Uint8Array) throw new KeyError("JWT_VERIFY_KEYS", "holds a JWK that is not a public key");
    checkStrength("JWT_VERIFY_KEYS", imported);
    const { kid: _kid, alg: _alg, use: _use, key_ops: _ops, ...members } = item;
    const kid = item.kid ?? (await calculateJwkThumbprint(members));
    const jwk: PublicJwk = { ...members, kid, alg, use: "sig" };
    keys.push({ kid, key: { kid, alg, key: KeyObject.from(imported) }, jwk });
  }
  return keys;
}

function algorithmOfJwk(jwk: JWK): Exclude<JwtAlgorithm, "HS256"> {
  const inferred = jwk.kty === "EC" && jwk.crv === "P-256" ? "ES256" : jwk.kty === "OKP" && jwk.crv === "Ed25519" ? "EdDSA" : jwk.kty === "RSA" ? "RS256" : undefined;
  if (inferred === undefined || (jwk.alg !== undefined && jwk.alg !== inferred && !(inferred === "EdDSA" && jwk.alg === "Ed25519"))) {
    throw new KeyError("JWT_VERIFY_KEYS", "holds a key that is not ES256 (P-256), EdDSA (Ed25519) or RS256");
  }
  return inferred;
}

async function parsePems(text: string, signingAlg: JwtAlgorithm): Promise<ExtraKey[]> {
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0) throw new KeyError("JWT_VERIFY_KEYS", "PEM keys must be SPKI public keys (BEGIN PUBLIC KEY)");
  const keys: ExtraKey[] = [];
  for (const pem of blocks) {
    const key = await importSpkiAnyAlg(pem, signingAlg);
    const jwk = await publicJwkOf(key.cryptoKey, key.alg);
    keys.push({ kid: jwk.kid, key: { kid: jwk.kid, alg: key.alg, key: KeyObject.from(key.cryptoKey) }, jwk });
  }
  return keys;
}

/** A PEM does not say its algorithm; try the signing algorithm first, then the others. */
async function importSpkiAnyAlg(pem: string, signingAlg: JwtAlgorithm): Promise<{ alg: Exclude<JwtAlgorithm, "HS256">; cryptoKey: CryptoKey }> {
  const candidates: Exclude<JwtAlgorithm, "HS256">[] = ["ES256", "EdDSA", "RS256"];
  if (signingAlg !== "HS256") candidates.sort((a) => (a === signingAlg ? -1 : 0));
  for (const alg of candidates) {
    try {
      const cryptoKey = await importSPKI(pem, alg, { extractable: true });
      checkStrength("JWT_VERIFY_KEYS", cryptoKey);
      return { alg, cryptoKey };
    } catch (error) {
      if (error instanceof KeyError) throw error;
    }
  }
  throw new KeyError("JWT_VERIFY_KEYS", "holds a PEM key that is not ES256, EdDSA or RS256");
}
