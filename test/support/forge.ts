/**
 * Hand-made JWTs for the attack suite: every byte of the header, payload and
 * signature is the test's to choose (jose's SignJWT would refuse or normalize
 * most of what an attacker sends). Also the key encodings an attacker would try
 * as an HMAC secret, ECDSA/EdDSA signature arithmetic, and a self-signed X.509
 * certificate for `x5c`.
 */
import { createHmac, sign, X509Certificate, type KeyObject } from "node:crypto";
import { constants } from "node:crypto";

export type Json = Record<string, unknown>;

/** JSON text used as is (duplicate keys, a BOM, a non-object): `forge` does not re-serialize it. */
export class RawJson {
  constructor(readonly text: string | Uint8Array) {}
}

export const b64url = (data: string | Uint8Array): string => Buffer.from(data).toString("base64url");

export function segmentOf(value: unknown): string {
  if (value instanceof RawJson) return b64url(value.text);
  return b64url(JSON.stringify(value));
}

export interface Parts {
  header: Json;
  payload: Json;
  /** The three encoded segments as they are in the token. */
  segments: [string, string, string];
  signature: Buffer;
}

export function split(token: string): Parts {
  const [h, p, s] = token.split(".") as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(h, "base64url").toString("utf8")) as Json,
    payload: JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as Json,
    segments: [h, p, s],
    signature: Buffer.from(s, "base64url"),
  };
}

/** Signs the JWS signing input (`header.payload`, ASCII) and returns the raw signature. */
export type Signer = (input: string) => Buffer;

export function hmacSigner(hash: "sha256" | "sha384" | "sha512", secret: string | Uint8Array): Signer {
  return (input) => createHmac(hash, secret).update(input).digest();
}

export interface AsymmetricOptions {
  /** ECDSA: JWS wants raw r||s ("ieee-p1363"); "der" is the wrong encoding. */
  dsaEncoding?: "der" | "ieee-p1363";
  /** RSA-PSS padding (PS256 and friends) instead of PKCS#1 v1.5. */
  pss?: boolean;
}

/** `hash` null for EdDSA (the hash is part of the algorithm). */
export function keySigner(privateKey: KeyObject, hash: "sha256" | "sha384" | "sha512" | null, options: AsymmetricOptions = {}): Signer {
  return (input) =>
    sign(hash, Buffer.from(input), {
      key: privateKey,
      ...(options.dsaEncoding ? { dsaEncoding: options.dsaEncoding } : {}),
      ...(options.pss ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : {}),
    });
}

/** The signer a deployment of `alg` uses, for a key (asymmetric) or secret (HS256). */
export function signerFor(alg: "HS256" | "ES256" | "RS256" | "EdDSA", key: KeyObject | string): Signer {
  if (alg === "HS256") return hmacSigner("sha256", key as string);
  const privateKey = key as KeyObject;
  if (alg === "ES256") return keySigner(privateKey, "sha256", { dsaEncoding: "ieee-p1363" });
  if (alg === "RS256") return keySigner(privateKey, "sha256");
  return keySigner(privateKey, null);
}

/**
 * A compact JWS from a header and payload (objects, or RawJson text) and a
 * signature: a signer (over the input this builds), raw bytes, or the segment text
 * exactly as it should appear.
 */
export function forge(header: unknown, payload: unknown, signature: Signer | Uint8Array | string): string {
  const input = `${segmentOf(header)}.${segmentOf(payload)}`;
  return `${input}.${signatureSegment(input, signature)}`;
}

/** The same, from segments already encoded (to keep a real token's segments byte for byte). */
export function assemble(headerSegment: string, payloadSegment: string, signature: Signer | Uint8Array | string): string {
  const input = `${headerSegment}.${payloadSegment}`;
  return `${input}.${signatureSegment(input, signature)}`;
}

function signatureSegment(input: string, signature: Signer | Uint8Array | string): string {
  if (typeof signature === "string") return signature;
  if (signature instanceof Uint8Array) return b64url(signature);
  return b64url(signature(input));
}

/** Unsigned big-endian (ECDSA, RSA) or little-endian (EdDSA) bytes of `value`, `size` long. */
export function bigintBytes(value: bigint, size: number, endian: "be" | "le" = "be"): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const bytes = Buffer.from(hex, "hex");
  if (bytes.length > size) throw new Error(`${value} does not fit in ${size} bytes`);
  const out = Buffer.concat([Buffer.alloc(size - bytes.length), bytes]);
  return endian === "be" ? out : out.reverse();
}

export const bytesToBigint = (bytes: Uint8Array, endian: "be" | "le" = "be"): bigint => {
  const ordered = endian === "be" ? Buffer.from(bytes) : Buffer.from(bytes).reverse();
  return ordered.length === 0 ? 0n : BigInt(`0x${ordered.toString("hex")}`);
};

/** The order n of P-256 (ECDSA r and s must lie in [1, n-1]). */
export const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
/** The order L of Ed25519's base point (a signature's S must be below it). */
export const ED25519_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

/** A raw JWS ECDSA signature r||s for P-256. */
export const ecdsaSignature = (r: bigint, s: bigint): Buffer => Buffer.concat([bigintBytes(r, 32), bigintBytes(s, 32)]);

/**
 * What an attacker holding only the public key might feed HMAC as its secret:
 * every encoding of it we can think of.
 */
export function publicKeyEncodings(publicKey: KeyObject, published: { jwk: Json; jwksText: string }): [string, string | Buffer][] {
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const der = publicKey.export({ type: "spki", format: "der" });
  const jwk = publicKey.export({ format: "jwk" }) as Json;
  const body = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const encodings: [string, string | Buffer][] = [
    ["PEM (SPKI) with its trailing newline", pem],
    ["PEM without the trailing newline", pem.trimEnd()],
    ["PEM with CRLF line ends", pem.replace(/\n/g, "\r\n")],
    ["PEM on one line", pem.replace(/\n/g, "")],
    ["PEM with escaped \\n (as in an env file)", pem.trimEnd().replace(/\n/g, "\\n")],
    ["the base64 body of the PEM", body],
    ["DER (SPKI) bytes", der],
    ["base64url of the DER", der.toString("base64url")],
    ["hex of the DER", der.toString("hex")],
    ["the JWK as published in the JWKS", JSON.stringify(published.jwk)],
    ["the JWK as node exports it", JSON.stringify(jwk)],
    ["the whole JWKS document", published.jwksText],
  ];
  if (jwk.kty === "RSA") {
    encodings.push(["PKCS#1 PEM (BEGIN RSA PUBLIC KEY)", publicKey.export({ type: "pkcs1", format: "pem" }).toString()]);
    encodings.push(["the modulus n as bytes", Buffer.from(jwk.n as string, "base64url")]);
    encodings.push(["the modulus n in base64url", jwk.n as string]);
  } else if (jwk.kty === "EC") {
    const x = Buffer.from(jwk.x as string, "base64url");
    const y = Buffer.from(jwk.y as string, "base64url");
    encodings.push(["the uncompressed point 04||x||y", Buffer.concat([Buffer.from([4]), x, y])]);
    encodings.push(["x||y", Buffer.concat([x, y])]);
    encodings.push(["x in base64url", jwk.x as string]);
  } else {
    encodings.push(["the raw 32-byte Ed25519 key", Buffer.from(jwk.x as string, "base64url")]);
    encodings.push(["x in base64url", jwk.x as string]);
  }
  return encodings;
}

// --- A minimal DER writer, enough for one self-signed certificate. ---

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  let length: Buffer;
  if (body.length < 0x80) {
    length = Buffer.from([body.length]);
  } else {
    const bytes = bigintBytes(BigInt(body.length), body.length < 0x100 ? 1 : body.length < 0x10000 ? 2 : 3);
    length = Buffer.concat([Buffer.from([0x80 | bytes.length]), bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const sequence = (...content: Buffer[]) => der(0x30, ...content);
const integer = (value: bigint) => {
  const bytes = bigintBytes(value, Math.max(1, Math.ceil(value.toString(16).length / 2)));
  return der(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
};
const ECDSA_WITH_SHA256 = der(0x06, Buffer.from("2a8648ce3d040302", "hex"));
const COMMON_NAME = der(0x06, Buffer.from("550403", "hex"));
const utcTime = (date: Date) => der(0x17, Buffer.from(date.toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z"));

/**
 * A self-signed X.509 certificate (DER) for a P-256 key: what an attacker puts in
 * `x5c` so that a careless verifier takes the key from the token itself.
 */
export function selfSignedCertificate(privateKey: KeyObject, publicKey: KeyObject, commonName: string): Buffer {
  const name = sequence(der(0x31, sequence(COMMON_NAME, der(0x0c, Buffer.from(commonName)))));
  const now = Date.now();
  const tbs = sequence(
    der(0xa0, integer(2n)),
    integer(BigInt(now)),
    sequence(ECDSA_WITH_SHA256),
    name,
    sequence(utcTime(new Date(now - 86_400_000)), utcTime(new Date(now + 365 * 86_400_000))),
    name,
    publicKey.export({ type: "spki", format: "der" }),
  );
  const signature = sign("sha256", tbs, privateKey);
  const certificate = sequence(tbs, sequence(ECDSA_WITH_SHA256), der(0x03, Buffer.from([0]), signature));
  // It must be a real certificate, or the test would prove nothing.
  if (!new X509Certificate(certificate).verify(publicKey)) throw new Error("the self-signed certificate does not verify");
  return certificate;
}
