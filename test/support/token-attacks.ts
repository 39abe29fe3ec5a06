/**
 * The catalogue of token attacks, in the spirit of jwt_tool and RFC 8725: each case
 * makes one forgery from a deployment's genuine tokens (so the attack is the only
 * thing wrong with it) and names the reason it must be refused with. Algorithm
 * confusion, alg "none", wrong and foreign keys, broken signatures, keys and key
 * URLs in the header, hostile kid, crit and b64, claims, tampering, type swaps,
 * tokens of other deployments, non-canonical encodings, issuer and audience.
 * test/attack-tokens.test.ts presents every case to every surface.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import type { JwtAlgorithm } from "../../src/config.js";
import type { Reason } from "../../src/core/errors.js";
import type { TokenType } from "../../src/core/tokens/claims.js";
import {
  assemble, b64url, bigintBytes, bytesToBigint, ecdsaSignature, ED25519_ORDER, forge, hmacSigner, keySigner, P256_ORDER,
  publicKeyEncodings, RawJson, signerFor, split, type Json, type Signer,
} from "./forge.js";

export type Alg = JwtAlgorithm;
export const ALGS: readonly Alg[] = ["ES256", "RS256", "EdDSA", "HS256"];
export const ACCESS_LIFETIME_S = 3600;
export const ISSUER = "https://id.example";
export const AUDIENCE = "shop";

// Keys are made once, at collection, so each catalogue can name its cases.
const ec = (namedCurve: string) => generateKeyPairSync("ec", { namedCurve });
export const KEYS = {
  ES256: ec("P-256"),
  RS256: generateKeyPairSync("rsa", { modulusLength: 2048 }),
  EdDSA: generateKeyPairSync("ed25519"),
} as const;
const HS_SECRET = randomBytes(32).toString("base64url");
export const ATTACKER = {
  ES256: ec("P-256"),
  ES384: ec("P-384"),
  ES512: ec("P-521"),
  RS256: generateKeyPairSync("rsa", { modulusLength: 2048 }),
  EdDSA: generateKeyPairSync("ed25519"),
  secret: randomBytes(32).toString("base64url"),
} as const;

/** The deployment's JWT_SIGNING_KEY. */
export function signingKeyText(alg: Alg): string {
  return alg === "HS256" ? HS_SECRET : KEYS[alg].privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** What forgeries are made from: a deployment's algorithm and keys, and a genuine token pair it issued. */
export interface Deployment {
  label: string;
  alg: Alg;
  /** Signs with the deployment's own key: claims forged this way are refused by the claim checks alone. */
  sign: Signer;
  publicKey: KeyObject | undefined;
  kid: string;
  access: string;
  refresh: string;
  header: Json;
  claims: Json;
  refreshClaims: Json;
  published: { jwk: Json; jwksText: string };
}

/** A deployment of `alg` as its genuine tokens and its published JWKS show it. */
export function deploymentOf(alg: Alg, label: string, tokens: { access: string; refresh: string }, jwksText: string): Deployment {
  const parts = split(tokens.access);
  return {
    label,
    alg,
    sign: signerFor(alg, alg === "HS256" ? HS_SECRET : KEYS[alg].privateKey),
    publicKey: alg === "HS256" ? undefined : KEYS[alg].publicKey,
    kid: parts.header.kid as string,
    access: tokens.access,
    refresh: tokens.refresh,
    header: parts.header,
    claims: parts.payload,
    refreshClaims: split(tokens.refresh).payload,
    published: { jwk: ((JSON.parse(jwksText) as { keys: Json[] }).keys[0] ?? {}) as Json, jwksText },
  };
}

/** What the attacker publishes (keys are in ATTACKER): a server for `jku` / `x5u` that notes every request, and a certificate for `x5c`. */
export interface Attacker {
  server: { url: string; requests: string[] };
  certificate: Buffer;
}

export interface World {
  deployments: Map<string, Deployment>;
  attacker: Attacker;
}

export interface Case {
  name: string;
  /** How the forgery is presented: as an access token (Verify, Bearer) or a refresh token (Refresh, Logout). */
  as: TokenType;
  reason: Reason;
  make(d: Deployment, world: World): string;
}

/** `[name, case]` rows, so test titles show the whole name. */
export const named = (cases: Case[]): [string, Case][] => cases.map((c) => [c.name, c]);
const access = (name: string, make: Case["make"], reason: Reason = "token_not_valid"): Case => ({ name, as: "access", reason, make });
const refresh = (name: string, make: Case["make"], reason: Reason = "token_not_valid"): Case => ({ name, as: "refresh", reason, make });

// --- Building blocks of forgeries. ---

export const nowS = () => Math.floor(Date.now() / 1000);
const segments = (token: string) => split(token).segments;
/** The genuine header and claims, re-signed by the deployment's key with changes. */
export const resign = (d: Deployment, header: unknown = d.header, payload: unknown = d.claims) => forge(header, payload, d.sign);
/** Changed claims under the genuine header and the genuine (now wrong) signature: what an attacker without the key can do. */
const tampered = (token: string, changes: Json) => {
  const [h, , s] = segments(token);
  return assemble(h, b64url(JSON.stringify({ ...split(token).payload, ...changes })), s);
};
const withSignature = (token: string, signature: Uint8Array | string) => {
  const [h, p] = segments(token);
  return assemble(h, p, signature);
};
export const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/**
 * The same signature bytes, spelled differently: every signature here leaves bits
 * unused in its last character (64, 256 and 32 bytes are not multiples of 3), and
 * the lowest one is among them.
 */
const withUnusedBitsSet = (token: string) => {
  const [h, p, s] = segments(token);
  return assemble(h, p, s.slice(0, -1) + BASE64URL[BASE64URL.indexOf(s.at(-1)!) ^ 1]);
};
const without = (claims: Json, ...names: string[]) => Object.fromEntries(Object.entries(claims).filter(([k]) => !names.includes(k)));
/** Re-signs with a changing extra claim until `accept` likes the token (deterministic signatures differ only with the input). */
function resignUntil(d: Deployment, accept: (token: string) => boolean): string {
  for (let i = 0; i < 500; i++) {
    const token = resign(d, d.header, i === 0 ? d.claims : { ...d.claims, n: i });
    if (accept(token)) return token;
  }
  throw new Error("no signature of the wanted shape in 500 tries");
}

/** The attacker's key of the deployment's kind, with the JWK an attacker would embed. */
export function attackerKeyFor(alg: Alg): { alg: string; sign: Signer; jwk: Json } {
  if (alg === "HS256") return { alg, sign: hmacSigner("sha256", ATTACKER.secret), jwk: { kty: "oct", k: b64url(ATTACKER.secret), kid: "attacker-hs" } };
  const pair = ATTACKER[alg];
  return { alg, sign: signerFor(alg, pair.privateKey), jwk: { ...(pair.publicKey.export({ format: "jwk" }) as Json), kid: `attacker-${alg}`, alg, use: "sig" } };
}

// --- The catalogues. ---

function algNoneCases(): Case[] {
  const cases: Case[] = [];
  for (const spelling of ["none", "None", "NONE", "nOnE", "none "]) {
    cases.push(access(`alg "${spelling}" with an empty signature`, (d) => forge({ ...d.header, alg: spelling }, d.claims, "")));
    cases.push(access(`alg "${spelling}" keeping the genuine signature`, (d) => forge({ ...d.header, alg: spelling }, d.claims, segments(d.access)[2])));
  }
  cases.push(
    access('alg "none" without a kid and a non-empty signature', (d) => forge({ alg: "none", typ: "JWT" }, d.claims, "AAAA")),
    access("no alg at all", (d) => resign(d, without(d.header, "alg"))),
    access("alg null", (d) => resign(d, { ...d.header, alg: null })),
    access("alg as a list holding the right one", (d) => resign(d, { ...d.header, alg: [d.alg] })),
    access('alg ""', (d) => resign(d, { ...d.header, alg: "" })),
    refresh('a refresh token with alg "none"', (d) => forge({ ...d.header, alg: "none" }, d.refreshClaims, "")),
  );
  return cases;
}

/** HS256/384/512 keyed with the deployment's public key, in every encoding of it. */
function confusionCases(alg: Exclude<Alg, "HS256">): Case[] {
  const names = publicKeyEncodings(KEYS[alg].publicKey, { jwk: {}, jwksText: "" }).map(([name]) => name);
  const cases: Case[] = [];
  const secretOf = (d: Deployment, name: string) => new Map(publicKeyEncodings(d.publicKey!, d.published)).get(name)!;
  for (const name of names) {
    for (const hmac of ["HS256", "HS384", "HS512"] as const) {
      const hash = `sha${hmac.slice(2)}` as "sha256" | "sha384" | "sha512";
      cases.push(access(`${hmac} keyed with the public key as ${name}`, (d) => forge({ ...d.header, alg: hmac }, d.claims, hmacSigner(hash, secretOf(d, name)))));
    }
  }
  cases.push(
    access("HS256 keyed with the public key PEM, without a kid", (d) => forge({ alg: "HS256", typ: "JWT" }, d.claims, hmacSigner("sha256", secretOf(d, names[0]!)))),
    refresh("a refresh token HS256-keyed with the public key PEM", (d) => forge({ ...d.header, alg: "HS256" }, d.refreshClaims, hmacSigner("sha256", secretOf(d, names[0]!)))),
  );
  return cases;
}

/** The deployment's own key with another algorithm's name, and other kinds of key under its kid. */
function wrongAlgorithmCases(alg: Alg): Case[] {
  const own: [string, (d: Deployment) => Signer][] = {
    ES256: [
      ["ES384", () => keySigner(KEYS.ES256.privateKey, "sha384", { dsaEncoding: "ieee-p1363" })],
      ["ES512", () => keySigner(KEYS.ES256.privateKey, "sha512", { dsaEncoding: "ieee-p1363" })],
      ["es256", (d) => d.sign],
      ["ES256 ", (d) => d.sign],
    ] as [string, (d: Deployment) => Signer][],
    RS256: [
      ["RS384", () => keySigner(KEYS.RS256.privateKey, "sha384")],
      ["RS512", () => keySigner(KEYS.RS256.privateKey, "sha512")],
      ["PS256", () => keySigner(KEYS.RS256.privateKey, "sha256", { pss: true })],
      ["PS512", () => keySigner(KEYS.RS256.privateKey, "sha512", { pss: true })],
      ["rs256", (d) => d.sign],
    ] as [string, (d: Deployment) => Signer][],
    EdDSA: [
      ["Ed25519", (d) => d.sign],
      ["ed25519", (d) => d.sign],
      ["Ed448", (d) => d.sign],
      ["EDDSA", (d) => d.sign],
    ] as [string, (d: Deployment) => Signer][],
    HS256: [
      ["HS384", () => hmacSigner("sha384", HS_SECRET)],
      ["HS512", () => hmacSigner("sha512", HS_SECRET)],
      ["hs256", (d) => d.sign],
      ["HS256 ", (d) => d.sign],
    ] as [string, (d: Deployment) => Signer][],
  }[alg];
  const cases: Case[] = own.map(([name, signer]) =>
    access(`the deployment's own key and kid, but alg "${name}"`, (d) => forge({ ...d.header, alg: name }, d.claims, signer(d))),
  );
  const foreign: [string, Signer][] = [
    ["ES256", signerFor("ES256", ATTACKER.ES256.privateKey)],
    ["ES384", keySigner(ATTACKER.ES384.privateKey, "sha384", { dsaEncoding: "ieee-p1363" })],
    ["ES512", keySigner(ATTACKER.ES512.privateKey, "sha512", { dsaEncoding: "ieee-p1363" })],
    ["RS256", signerFor("RS256", ATTACKER.RS256.privateKey)],
    ["PS256", keySigner(ATTACKER.RS256.privateKey, "sha256", { pss: true })],
    ["EdDSA", signerFor("EdDSA", ATTACKER.EdDSA.privateKey)],
    ["HS256", hmacSigner("sha256", ATTACKER.secret)],
  ];
  for (const [name, signer] of foreign) {
    const what = name === alg ? `another ${name} key (the attacker's)` : `an ${name} key`;
    cases.push(access(`signed by ${what} under the deployment's kid`, (d) => forge({ ...d.header, alg: name }, d.claims, signer)));
  }
  cases.push(refresh("a refresh token signed by the attacker's key of the same kind, under the deployment's kid", (d) => forge(d.header, d.refreshClaims, attackerKeyFor(alg).sign)));
  return cases;
}

/** Signatures that are zero, out of range, wrongly encoded or the wrong length ("psychic signatures" and kin). */
function signatureCases(alg: Alg): Case[] {
  const sig = (d: Deployment) => split(d.access).signature;
  const cases: Case[] = [
    access("an empty signature", (d) => withSignature(d.access, "")),
    access("the refresh token's signature on the access token", (d) => withSignature(d.access, segments(d.refresh)[2])),
    access("one bit of the signature flipped", (d) => {
      const s = Buffer.from(sig(d));
      s[Math.floor(s.length / 2)]! ^= 0x01;
      return withSignature(d.access, s);
    }),
    access("the genuine signature under the same header re-serialized (keys reordered)", (d) => {
      const { alg: a, kid, typ } = d.header;
      return assemble(b64url(JSON.stringify({ typ, kid, alg: a })), segments(d.access)[1], segments(d.access)[2]);
    }),
    access("the genuine signature under the same header with spaces in its JSON", (d) =>
      assemble(b64url(JSON.stringify(d.header, null, 1)), segments(d.access)[1], segments(d.access)[2]),
    ),
    refresh("a refresh token with an all-zero signature", (d) => withSignature(d.refresh, Buffer.alloc(split(d.refresh).signature.length))),
  ];
  const r = (d: Deployment) => bytesToBigint(sig(d).subarray(0, 32));
  const s = (d: Deployment) => bytesToBigint(sig(d).subarray(32));
  if (alg === "ES256") {
    const n = P256_ORDER;
    cases.push(
      access("ECDSA r = s = 0 (64 zero bytes)", (d) => withSignature(d.access, ecdsaSignature(0n, 0n))),
      access("ECDSA r = s = n, the curve order", (d) => withSignature(d.access, ecdsaSignature(n, n))),
      access("ECDSA r = n with the genuine s", (d) => withSignature(d.access, ecdsaSignature(n, s(d)))),
      access("ECDSA the genuine r with s = n", (d) => withSignature(d.access, ecdsaSignature(r(d), n))),
      access("ECDSA r = 0 with the genuine s", (d) => withSignature(d.access, ecdsaSignature(0n, s(d)))),
      access("ECDSA the genuine r with s = 0", (d) => withSignature(d.access, ecdsaSignature(r(d), 0n))),
      access("ECDSA r = n + 1, s = n + 1", (d) => withSignature(d.access, ecdsaSignature(n + 1n, n + 1n))),
      access("ECDSA r = s = 2^256 - 1", (d) => withSignature(d.access, ecdsaSignature(2n ** 256n - 1n, 2n ** 256n - 1n))),
      access("ECDSA r and s swapped", (d) => withSignature(d.access, ecdsaSignature(s(d), r(d)))),
      access("the genuine signature DER-encoded instead of raw r||s", (d) => {
        const [h, p] = segments(d.access);
        return assemble(h, p, keySigner(KEYS.ES256.privateKey, "sha256", { dsaEncoding: "der" }));
      }),
      access("a DER-encoded r = s = 0", (d) => withSignature(d.access, Buffer.from("3006020100020100", "hex"))),
      access("the signature truncated to 63 bytes", (d) => withSignature(d.access, sig(d).subarray(0, 63))),
      access("the signature truncated to r alone (32 bytes)", (d) => withSignature(d.access, sig(d).subarray(0, 32))),
      access("the signature with a zero byte appended (65 bytes)", (d) => withSignature(d.access, Buffer.concat([sig(d), Buffer.alloc(1)]))),
      access("the signature twice (128 bytes)", (d) => withSignature(d.access, Buffer.concat([sig(d), sig(d)]))),
    );
  } else if (alg === "RS256") {
    const modulus = (d: Deployment) => Buffer.from(d.published.jwk.n as string, "base64url");
    cases.push(
      access("RSA signature of 256 zero bytes", (d) => withSignature(d.access, Buffer.alloc(256))),
      access("RSA signature equal to the modulus n (out of range)", (d) => withSignature(d.access, modulus(d))),
      access("RSA signature n + 1", (d) => withSignature(d.access, bigintBytes(bytesToBigint(modulus(d)) + 1n, 256))),
      access("RSA signature of 256 0xFF bytes", (d) => withSignature(d.access, Buffer.alloc(256, 0xff))),
      access("RSA signature one byte short (255 bytes)", (d) => withSignature(d.access, sig(d).subarray(1))),
      access("RSA signature with a leading zero byte (257 bytes)", (d) => withSignature(d.access, Buffer.concat([Buffer.alloc(1), sig(d)]))),
      access("RSA signature twice (512 bytes)", (d) => withSignature(d.access, Buffer.concat([sig(d), sig(d)]))),
      access("RSA signature of the value 1", (d) => withSignature(d.access, bigintBytes(1n, 256))),
    );
  } else if (alg === "EdDSA") {
    const S = (d: Deployment) => bytesToBigint(sig(d).subarray(32), "le");
    const R = (d: Deployment) => sig(d).subarray(0, 32);
    const identity = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);
    cases.push(
      access("Ed25519 signature of 64 zero bytes", (d) => withSignature(d.access, Buffer.alloc(64))),
      access("Ed25519 S = L, the group order", (d) => withSignature(d.access, Buffer.concat([R(d), bigintBytes(ED25519_ORDER, 32, "le")]))),
      access("Ed25519 S + L: a non-canonical twin of the genuine S", (d) => withSignature(d.access, Buffer.concat([R(d), bigintBytes(S(d) + ED25519_ORDER, 32, "le")]))),
      access("Ed25519 R = the identity point, S = 0", (d) => withSignature(d.access, Buffer.concat([identity, Buffer.alloc(32)]))),
      access("Ed25519 R and S swapped", (d) => withSignature(d.access, Buffer.concat([sig(d).subarray(32), R(d)]))),
      access("Ed25519 signature truncated to 63 bytes", (d) => withSignature(d.access, sig(d).subarray(0, 63))),
      access("Ed25519 signature with a zero byte appended (65 bytes)", (d) => withSignature(d.access, Buffer.concat([sig(d), Buffer.alloc(1)]))),
      access("Ed25519 signature twice (128 bytes)", (d) => withSignature(d.access, Buffer.concat([sig(d), sig(d)]))),
    );
  } else {
    cases.push(
      access("HMAC of 32 zero bytes", (d) => withSignature(d.access, Buffer.alloc(32))),
      access("HMAC truncated to 16 bytes", (d) => withSignature(d.access, sig(d).subarray(0, 16))),
      access("HMAC truncated to 31 bytes", (d) => withSignature(d.access, sig(d).subarray(0, 31))),
      access("HMAC with a zero byte appended (33 bytes)", (d) => withSignature(d.access, Buffer.concat([sig(d), Buffer.alloc(1)]))),
      access("HMAC twice (64 bytes)", (d) => withSignature(d.access, Buffer.concat([sig(d), sig(d)]))),
      access("HMAC keyed with the empty string", (d) => forge(d.header, d.claims, hmacSigner("sha256", ""))),
    );
  }
  return cases;
}

/** Keys and key URLs in the header: never taken, never fetched. */
function headerKeyCases(alg: Alg): Case[] {
  const mine = () => attackerKeyFor(alg);
  const certificateChain = (w: World) => [w.attacker.certificate.toString("base64")];
  const es256 = signerFor("ES256", ATTACKER.ES256.privateKey);
  const cases: Case[] = [
    access("jwk: the attacker's key in the header, signed by it", (d) => {
      const a = mine();
      return forge({ alg: a.alg, typ: "JWT", jwk: a.jwk }, d.claims, a.sign);
    }),
    access("jwk: the attacker's key in the header under the deployment's kid", (d) => {
      const a = mine();
      return forge({ ...d.header, jwk: a.jwk }, d.claims, a.sign);
    }),
    access("x5c: the attacker's self-signed certificate, signed by its key", (d, w) => forge({ alg: "ES256", typ: "JWT", x5c: certificateChain(w) }, d.claims, es256)),
    access("x5c: the attacker's certificate under the deployment's kid", (d, w) => forge({ ...d.header, alg: "ES256", x5c: certificateChain(w) }, d.claims, es256)),
    access("jku: the attacker's JWKS URL and the attacker's kid", (d, w) => {
      const a = mine();
      return forge({ alg: a.alg, typ: "JWT", kid: a.jwk.kid, jku: `${w.attacker.server.url}/jwks.json` }, d.claims, a.sign);
    }),
    access("jku: the attacker's JWKS URL under the deployment's kid", (d, w) => forge({ ...d.header, jku: `${w.attacker.server.url}/jwks.json` }, d.claims, mine().sign)),
    access("jku naming localhost, signed by the deployment's own key", (d, w) => resign(d, { ...d.header, jku: `${w.attacker.server.url.replace("127.0.0.1", "localhost")}/jwks.json` })),
    access("x5u: the attacker's certificate URL", (d, w) => forge({ alg: "ES256", typ: "JWT", x5u: `${w.attacker.server.url}/cert.pem` }, d.claims, es256)),
    access("x5u, signed by the deployment's own key", (d, w) => resign(d, { ...d.header, x5u: `${w.attacker.server.url}/cert.pem` })),
    access("jwk, x5c, jku and x5u all at once", (d, w) => {
      const a = mine();
      return forge({ ...d.header, alg: a.alg, jwk: a.jwk, x5c: certificateChain(w), jku: `${w.attacker.server.url}/jwks.json`, x5u: `${w.attacker.server.url}/cert.pem` }, d.claims, a.sign);
    }),
    refresh("a refresh token with the attacker's jku", (d, w) => forge({ ...d.header, jku: `${w.attacker.server.url}/jwks.json` }, d.refreshClaims, mine().sign)),
  ];
  if (alg !== "HS256") {
    cases.push(access("jwk: the deployment's own public key, signed by the deployment's key", (d) => resign(d, { ...d.header, jwk: d.published.jwk })));
  }
  return cases;
}

/** Hostile `kid` values, each under the deployment's own signature: only `kid` is wrong. */
function kidCases(): Case[] {
  const values: [string, (d: Deployment) => unknown][] = [
    ["a path: ../../etc/passwd", () => "../../etc/passwd"],
    ["a path: /dev/null", () => "/dev/null"],
    ["SQL: ' OR 1=1 --", () => "' OR 1=1 --"],
    ["SQL: x' UNION SELECT 'key", () => "x' UNION SELECT 'key"],
    ["a shell substitution: $(id)", () => "$(id)"],
    ["a URL", () => "https://attacker.example/key.pem"],
    ["a null byte alone", () => "\u0000"],
    ["the real kid followed by a null byte", (d) => `${d.kid}\u0000`],
    ["the real kid followed by a space", (d) => `${d.kid} `],
    ["the real kid in upper case", (d) => (d.kid.toUpperCase() === d.kid ? d.kid.toLowerCase() : d.kid.toUpperCase())],
    ["the real kid without its last character", (d) => d.kid.slice(0, -1)],
    ["10 KB of characters", () => "k".repeat(10_240)],
    ["the empty string", () => ""],
    ["__proto__", () => "__proto__"],
    ["constructor", () => "constructor"],
    ["toString", () => "toString"],
    ["a bidi override", () => "\u202ekid"],
    ["a number", () => 1],
    ["zero", () => 0],
    ["an object", () => ({})],
    ["an object holding the real kid", (d) => ({ kid: d.kid })],
    ["an array holding the real kid", (d) => [d.kid]],
    ["null", () => null],
    ["true", () => true],
  ];
  return [
    ...values.map(([name, kid]) => access(`kid: ${name}`, (d) => resign(d, { ...d.header, kid: kid(d) }))),
    access("no kid", (d) => resign(d, without(d.header, "kid"))),
    refresh("a refresh token with kid ../../etc/passwd", (d) => resign(d, { ...d.header, kid: "../../etc/passwd" }, d.refreshClaims)),
  ];
}

/** `crit` and `b64` (RFC 7515 §4.1.11, RFC 7797), under the deployment's own signature. */
function critCases(): Case[] {
  return [
    access('crit ["exp"]', (d) => resign(d, { ...d.header, crit: ["exp"] })),
    access('crit ["kid"] (a registered parameter)', (d) => resign(d, { ...d.header, crit: ["kid"] })),
    access("crit with an unknown parameter", (d) => resign(d, { ...d.header, crit: ["x-acme"], "x-acme": true })),
    access("crit as an empty list", (d) => resign(d, { ...d.header, crit: [] })),
    access('crit as a string "exp"', (d) => resign(d, { ...d.header, crit: "exp" })),
    access('crit ["b64"] with b64: true', (d) => resign(d, { ...d.header, crit: ["b64"], b64: true })),
    access('crit ["b64", "b64"]', (d) => resign(d, { ...d.header, crit: ["b64", "b64"], b64: true })),
    access("b64: false without crit", (d) => resign(d, { ...d.header, b64: false })),
    access('b64: false with crit ["b64"] and the payload unencoded', (d) => {
      const header = b64url(JSON.stringify({ ...d.header, crit: ["b64"], b64: false }));
      const payload = JSON.stringify(d.claims);
      return `${header}.${payload}.${b64url(d.sign(`${header}.${payload}`))}`;
    }),
    access("typ other than JWT (explicit typing)", (d) => resign(d, { ...d.header, typ: "at+jwt" })),
    access("typ as an object", (d) => resign(d, { ...d.header, typ: { JWT: true } })),
  ];
}

/** Time and claim checks: each under the deployment's own signature, so the claim is all that is wrong. */
function claimCases(): Case[] {
  const at = (name: string, changes: (now: number, d: Deployment) => Json, reason: Reason = "token_not_valid") =>
    access(name, (d) => resign(d, d.header, { ...d.claims, ...changes(nowS(), d) }), reason);
  const year = 365 * 86_400;
  const cases: Case[] = [
    at("exp a minute ago", (now) => ({ exp: now - 60 }), "token_expired"),
    at("exp one second ago", (now) => ({ exp: now - 1 }), "token_expired"),
    at("exp 0 (1970)", () => ({ exp: 0 }), "token_expired"),
    at("exp negative", () => ({ exp: -1 }), "token_expired"),
    at("nbf ten minutes ahead", (now) => ({ nbf: now + 600 }), "token_not_valid"),
    at("nbf ten years ahead", (now) => ({ nbf: now + 10 * year })),
    at("nbf as a string", (now) => ({ nbf: String(now) })),
    at("iat ten minutes ahead", (now) => ({ iat: now + 600 })),
    at("iat ten years ahead", (now) => ({ iat: now + 10 * year, exp: now + 10 * year + 60 })),
    at("iat 1e20", () => ({ iat: 1e20 })),
    at("iat 0 (1970)", () => ({ iat: 0 })),
    at("iat negative", () => ({ iat: -1 })),
    at("iat a fraction of a second", (now) => ({ iat: now - 0.5 })),
    at("iat as a string", (now) => ({ iat: String(now) })),
    at("exp ten years ahead (beyond an access token's lifetime)", (now) => ({ iat: now, exp: now + 10 * year })),
    at("exp one second beyond an access token's lifetime", (now) => ({ iat: now, exp: now + ACCESS_LIFETIME_S + 1 })),
    at("exp 1e20", () => ({ exp: 1e20 })),
    at("exp 2^53 - 1", () => ({ exp: Number.MAX_SAFE_INTEGER })),
    at("exp 1e308", () => ({ exp: 1e308 })),
    at("exp a fraction of a second", (now) => ({ exp: now + 60.5 })),
    at("exp as a string", (now) => ({ exp: String(now + 600) })),
    at("exp null", () => ({ exp: null })),
    at("exp as a list", (now) => ({ exp: [now + 600] })),
    at("exp as an object", (now) => ({ exp: { value: now + 600 } })),
    at("exp true", () => ({ exp: true })),
    at("token_type as a list", () => ({ token_type: ["access"] })),
    at('token_type "ACCESS"', () => ({ token_type: "ACCESS" })),
    at('token_type "access " (trailing space)', () => ({ token_type: "access " })),
    at('token_type "id"', () => ({ token_type: "id" })),
    at("token_type null", () => ({ token_type: null })),
    at("token_type a number", () => ({ token_type: 1 })),
    at("user_id as a number (sub too)", () => ({ user_id: 1, sub: 1 })),
    at("user_id as a number, sub a string", () => ({ user_id: 1 })),
    at("sub and user_id differing", () => ({ sub: "00000000-0000-4000-8000-000000000000" })),
    at("sub and user_id both empty", () => ({ sub: "", user_id: "" })),
    at("jti a number", () => ({ jti: 5 })),
    at("jti empty", () => ({ jti: "" })),
    at("sid empty", () => ({ sid: "" })),
    at("sid an object", () => ({ sid: {} })),
    at('is_staff "true"', () => ({ is_staff: "true" })),
    at("is_staff 1", () => ({ is_staff: 1 })),
    at("is_staff null", () => ({ is_staff: null })),
    at("phone a number", () => ({ phone: 989121234567 })),
    at("first_name an object", () => ({ first_name: { toString: "x" } })),
    at("last_name a list", () => ({ last_name: ["x"] })),
    at("iss a number (none configured)", () => ({ iss: 5 })),
    at("aud an object (none configured)", () => ({ aud: { shop: true } })),
    at("aud a list of numbers (none configured)", () => ({ aud: [1, 2] })),
  ];
  for (const claim of ["exp", "iat", "jti", "token_type", "sub", "user_id", "sid", "phone", "first_name", "last_name", "is_staff"]) {
    cases.push(access(`the ${claim} claim missing`, (d) => resign(d, d.header, without(d.claims, claim))));
  }
  cases.push(
    access("an empty claim set", (d) => resign(d, d.header, {})),
    refresh("a refresh token whose exp is past", (d) => resign(d, d.header, { ...d.refreshClaims, exp: nowS() - 60 }), "token_expired"),
    refresh("a refresh token living ten years", (d) => resign(d, d.header, { ...d.refreshClaims, iat: nowS(), exp: nowS() + 10 * year })),
    refresh("a refresh token with iat ahead", (d) => resign(d, d.header, { ...d.refreshClaims, iat: nowS() + 600 })),
    refresh("a refresh token without a jti", (d) => resign(d, d.header, without(d.refreshClaims, "jti"))),
  );
  return cases;
}

/** What an attacker without the key can do to claims: change them and keep the signature. */
function tamperCases(): Case[] {
  return [
    access("is_staff set to true", (d) => tampered(d.access, { is_staff: true })),
    access("sub and user_id set to another user", (d) => tampered(d.access, { sub: "00000000-0000-4000-8000-000000000001", user_id: "00000000-0000-4000-8000-000000000001" })),
    access("exp pushed a day further", (d) => tampered(d.access, { exp: (d.claims.exp as number) + 86_400 })),
    access("token_type changed to refresh", (d) => tampered(d.access, { token_type: "refresh" })),
    refresh("a refresh token changed to access", (d) => tampered(d.refresh, { token_type: "access" })),
    refresh("a refresh token whose exp is pushed a year further", (d) => tampered(d.refresh, { exp: (d.refreshClaims.exp as number) + 365 * 86_400 })),
  ];
}

function typeSwapCases(): Case[] {
  return [
    access("the genuine refresh token, presented as an access token", (d) => d.refresh, "token_wrong_type"),
    refresh("the genuine access token, presented as a refresh token", (d) => d.access, "token_wrong_type"),
  ];
}

function crossDeploymentCases(alg: Alg): Case[] {
  return ALGS.filter((other) => other !== alg).flatMap((other) => [
    access(`the genuine access token of the ${other} deployment`, (_d, w) => w.deployments.get(other)!.access),
    refresh(`the genuine refresh token of the ${other} deployment`, (_d, w) => w.deployments.get(other)!.refresh),
  ]);
}

/** Non-canonical encodings of a genuine token, and JSON a careless parser would take. */
function encodingCases(): Case[] {
  const put = (token: string, at: number, text: string) => token.slice(0, at) + text + token.slice(at);
  const sigStart = (t: string) => t.lastIndexOf(".") + 1;
  const headerJson = (d: Deployment) => JSON.stringify(d.header);
  return [
    access('"=" padding after the header', (d) => d.access.replace(".", "=.")),
    access('"=" padding after the payload', (d) => put(d.access, d.access.lastIndexOf("."), "=")),
    access('"==" padding after the signature', (d) => `${d.access}==`),
    access("'+' and '/' in place of '-' and '_' in the signature", (d) => {
      const token = resignUntil(d, (t) => /[-_]/.test(segments(t)[2]));
      const [h, p, s] = segments(token);
      return assemble(h, p, s.replace(/-/g, "+").replace(/_/g, "/"));
    }),
    access("a space inside the signature", (d) => put(d.access, sigStart(d.access) + 10, " ")),
    access("a newline inside the signature", (d) => put(d.access, sigStart(d.access) + 10, "\n")),
    access("a tab inside the signature", (d) => put(d.access, sigStart(d.access) + 10, "\t")),
    access("CRLF inside the signature", (d) => put(d.access, sigStart(d.access) + 10, "\r\n")),
    access("a newline inside the payload", (d) => put(d.access, d.access.indexOf(".") + 10, "\n")),
    access("a trailing newline", (d) => `${d.access}\n`),
    access("a leading space", (d) => ` ${d.access}`),
    access("spaces around the dots", (d) => d.access.replace(/\./g, " . ")),
    access("the last signature character with its unused bits set", (d) => withUnusedBitsSet(d.access)),
    access("a fourth segment", (d) => `${d.access}.AAAA`),
    access("a trailing dot", (d) => `${d.access}.`),
    access("a leading dot", (d) => `.${d.access}`),
    access("two dots between header and payload", (d) => d.access.replace(".", "..")),
    access("two segments (the signature dropped)", (d) => d.access.slice(0, d.access.lastIndexOf("."))),
    access("the header alone", (d) => segments(d.access)[0]),
    access('"Bearer " inside the token value', (d) => `Bearer ${d.access}`),
    access('"bearer " inside the token value', (d) => `bearer ${d.access}`),
    access("the token in double quotes", (d) => `"${d.access}"`),
    access("a NUL after the token", (d) => `${d.access}\u0000`),
    access("a fullwidth letter in the signature", (d) => put(d.access, sigStart(d.access), "\uff21")),
    access("the token URL-encoded twice over", (d) => encodeURIComponent(encodeURIComponent(`${d.access}=`))),
    // Duplicate members under the genuine signature: what was signed is the bytes, so
    // they fail there. (Our signer writes JSON.stringify output; RFC 7519 §4 lets a
    // parser keep the last duplicate, as JSON.parse does.)
    access('two "alg" in the header: "none" then the real one (genuine signature)', (d) => {
      const json = `{"alg":"none",${headerJson(d).slice(1)}`;
      return assemble(b64url(json), segments(d.access)[1], segments(d.access)[2]);
    }),
    access('two "kid" in the header: the attacker\'s then the real one (genuine signature)', (d) => {
      const json = `{"kid":"attacker",${headerJson(d).slice(1)}`;
      return assemble(b64url(json), segments(d.access)[1], segments(d.access)[2]);
    }),
    access('two "token_type" in the payload: refresh then access (genuine signature)', (d) => {
      const json = `{"token_type":"refresh",${JSON.stringify(d.claims).slice(1)}`;
      return assemble(segments(d.access)[0], b64url(json), segments(d.access)[2]);
    }),
    access('two "is_staff" in the payload, the last true (genuine signature)', (d) => {
      const json = `${JSON.stringify(d.claims).slice(0, -1)},"is_staff":true}`;
      return assemble(segments(d.access)[0], b64url(json), segments(d.access)[2]);
    }),
    access("a BOM before the header JSON (own key)", (d) => resign(d, new RawJson(`\ufeff${headerJson(d)}`))),
    access("a BOM before the payload JSON (own key)", (d) => resign(d, d.header, new RawJson(`\ufeff${JSON.stringify(d.claims)}`))),
    access("a header that is a JSON array (own key)", (d) => resign(d, [d.header])),
    access("a header that is a JSON string (own key)", (d) => resign(d, d.alg)),
    access("a header that is JSON null (own key)", (d) => resign(d, null)),
    access("a header that is not JSON (own key)", (d) => resign(d, new RawJson("alg=none"))),
    access("a header with invalid UTF-8 (own key)", (d) => resign(d, new RawJson(Buffer.concat([Buffer.from(`${headerJson(d).slice(0, -1)},"x":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])))),
    access("a payload that is a JSON array (own key)", (d) => resign(d, d.header, [d.claims])),
    access("a payload that is a JSON number (own key)", (d) => resign(d, d.header, 42)),
    access("a payload that is JSON null (own key)", (d) => resign(d, d.header, null)),
    access("an empty header object (own key)", (d) => resign(d, {})),
    access("a header nested 2,000 levels deep (genuine signature)", (d) => {
      const json = `${headerJson(d).slice(0, -1)},"x":${"[".repeat(2000)}${"]".repeat(2000)}}`;
      return assemble(b64url(json), segments(d.access)[1], segments(d.access)[2]);
    }),
    access("over 8 KiB: the genuine claims plus a long claim (own key)", (d) => resign(d, d.header, { ...d.claims, note: "x".repeat(6200) })),
    refresh("a refresh token with its unused signature bits set", (d) => withUnusedBitsSet(d.refresh)),
    refresh('a refresh token with "==" padding', (d) => `${d.refresh}==`),
    refresh("a refresh token with a fourth segment", (d) => `${d.refresh}.AAAA`),
  ];
}

/** The issuer deployment's cases: its tokens carry iss and aud, and must. */
export function issuerCases(): Case[] {
  const at = (name: string, changes: Json) => access(name, (d) => resign(d, d.header, { ...d.claims, ...changes }));
  return [
    access("no iss", (d) => resign(d, d.header, without(d.claims, "iss"))),
    access("no aud", (d) => resign(d, d.header, without(d.claims, "aud"))),
    access("neither iss nor aud", (d) => resign(d, d.header, without(d.claims, "iss", "aud"))),
    at("iss of another issuer", { iss: "https://evil.example" }),
    at("iss with a trailing slash", { iss: `${ISSUER}/` }),
    at("iss in upper case", { iss: ISSUER.toUpperCase() }),
    at("iss as a list holding the right one", { iss: [ISSUER] }),
    at("iss empty", { iss: "" }),
    at("aud of another audience", { aud: "other" }),
    at("aud a list without ours", { aud: ["other", "more"] }),
    at("aud in upper case", { aud: AUDIENCE.toUpperCase() }),
    at("aud empty", { aud: "" }),
    at("aud an empty list", { aud: [] }),
    access("the genuine token of the plain ES256 deployment (same key and stores, no iss/aud)", (_d, w) => w.deployments.get("ES256")!.access),
    refresh("a refresh token of another audience", (d) => resign(d, d.header, { ...d.refreshClaims, aud: "other" })),
    refresh("a refresh token without iss", (d) => resign(d, d.header, without(d.refreshClaims, "iss"))),
  ];
}

export function catalogueFor(alg: Alg): Case[] {
  const cases = [
    ...algNoneCases(),
    ...(alg === "HS256" ? [] : confusionCases(alg)),
    ...wrongAlgorithmCases(alg),
    ...signatureCases(alg),
    ...headerKeyCases(alg),
    ...typeSwapCases(),
    ...crossDeploymentCases(alg),
    ...encodingCases(),
  ];
  // Claims, kid and crit do not depend on the algorithm: once, on the default one.
  if (alg === "ES256") cases.push(...kidCases(), ...critCases(), ...claimCases(), ...tamperCases());
  return cases;
}
