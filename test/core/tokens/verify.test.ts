/**
 * verifyToken: a token's form, header, signature and claims, each refusal with its
 * exact reason and the refusal's own words (the AppError message, also what
 * onRefused hears). Tokens are made by signToken (genuine) or by hand (forge).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createKeyRing, type KeyRing } from "../../../src/core/tokens/keys.js";
import { signToken, type TokenSpec } from "../../../src/core/tokens/sign.js";
import { verifyToken, type VerifyOptions } from "../../../src/core/tokens/verify.js";
import { assemble, b64url, forge, hmacSigner, keySigner, RawJson, signerFor, split, type Json } from "../../support/forge.js";
import { SIGNING_SECRET } from "../support/core-deps.js";
import { keyPair, refusal, type Asymmetric, type KeyPair } from "../support/token-lab.js";

const NOW = Date.UTC(2026, 0, 1, 12);
const NOW_S = NOW / 1000;
const HOUR = 3_600_000;
const user = { id: "user-1", phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: false };
const spec = (over: Partial<TokenSpec> = {}): TokenSpec => ({ type: "access", jti: "jti-1", sid: "sid-1", user, issuedAtMs: NOW, expiresAtMs: NOW + HOUR, ...over });
const options = (over: Partial<VerifyOptions> = {}): VerifyOptions => ({ leewayMs: 0, maxLifetimeMs: HOUR, nowMs: NOW, ...over });

let keys: KeyRing;
let header: Json;
const hmac = hmacSigner("sha256", SIGNING_SECRET);

/** The claims of a genuine access token, to change one at a time. */
const claims = (over: Json = {}): Json => ({
  token_type: "access", exp: NOW_S + 3600, iat: NOW_S, jti: "jti-1", sub: "user-1", user_id: "user-1", sid: "sid-1",
  phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: false, ...over,
});
const without = (name: string): Json => {
  const all = claims();
  delete all[name];
  return all;
};
/** A token signed with the real key whose payload is `payload`. */
const signed = (payload: unknown, head: unknown = header): string => forge(head, payload, hmac);

const refused = (token: string, over: Partial<VerifyOptions> = {}, expected: "access" | "refresh" = "access") => refusal(verifyToken(keys, token, expected, options(over)));
const notValid = (message: string) => ({ reason: "token_not_valid", message });
const NOT_CANONICAL = notValid("not three canonical base64url segments");

beforeAll(async () => {
  keys = await createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET });
  header = { alg: "HS256", kid: keys.signing.kid, typ: "JWT" };
});

describe("a genuine token", () => {
  it("verifies to exactly the claims it carries", async () => {
    expect(await verifyToken(keys, signToken(keys, spec(), {}), "access", options())).toEqual(claims());
  });

  it("verifies as refresh when it is a refresh token", async () => {
    const token = signToken(keys, spec({ type: "refresh" }), {});
    expect(await verifyToken(keys, token, "refresh", options())).toEqual(claims({ token_type: "refresh" }));
  });

  it("verifies whatever its signature's last character (only stray bits are refused)", async () => {
    // 43 characters of HMAC: the last carries 4 bits of the hash and 2 stray ones.
    for (let i = 0; i < 24; i++) {
      const token = signToken(keys, spec({ jti: `jti-${i}` }), {});
      await expect(verifyToken(keys, token, "access", options())).resolves.toMatchObject({ jti: `jti-${i}` });
    }
  });

  it("verifies with typ absent, as well as with typ JWT", async () => {
    expect(await verifyToken(keys, signed(claims(), { alg: "HS256", kid: keys.signing.kid }), "access", options())).toEqual(claims());
  });

  it("is refused as the other type with token_wrong_type", async () => {
    expect(await refused(signToken(keys, spec(), {}), {}, "refresh")).toEqual({ reason: "token_wrong_type", message: "token_type is not refresh" });
    expect(await refused(signToken(keys, spec({ type: "refresh" }), {}))).toEqual({ reason: "token_wrong_type", message: "token_type is not access" });
  });

  it("tells onRefused why it was refused", async () => {
    const heard: string[] = [];
    await refusal(verifyToken(keys, signToken(keys, spec(), {}), "refresh", options({ onRefused: (why) => heard.push(why) })));
    expect(heard).toEqual(["token_type is not refresh"]);
  });
});

describe("length", () => {
  it("refuses an empty token unread", async () => {
    expect(await refused("")).toEqual(notValid("empty or oversized token"));
  });

  it("takes a token of exactly 8192 characters and refuses a longer one unread", async () => {
    // Base64url never has 4k+1 characters: a space or two in the header's JSON lets
    // the padded payload reach 8192 exactly.
    let token = "";
    for (const spaces of ["", " ", "  "]) {
      const head = new RawJson(JSON.stringify(header).replace(",", `,${spaces}`));
      for (let pad = 5500; pad < 6300 && token.length !== 8192; pad++) token = signed(claims({ pad: "x".repeat(pad) }), head);
    }
    expect(token.length).toBe(8192);
    expect(await verifyToken(keys, token, "access", options())).toMatchObject({ jti: "jti-1" });
    const longer = signed(claims({ pad: "x".repeat(split(token).payload.pad!.toString().length + 1) }));
    expect(longer.length).toBeGreaterThan(8192);
    expect(await refused(longer)).toEqual(notValid("empty or oversized token"));
  });
});

describe("one spelling per token", () => {
  let genuine: string;
  let h: string, p: string, s: string;
  beforeAll(() => {
    genuine = signToken(keys, spec(), {});
    [h, p, s] = genuine.split(".") as [string, string, string];
  });

  it.each([
    ["two segments", () => `${h}.${p}`],
    ["four segments", () => `${genuine}.${s}`],
    ["padding on the signature", () => `${genuine}=`],
    ["a space inside the payload", () => `${h}.${p.slice(0, 8)} ${p.slice(8)}.${s}`],
    ["a newline at the end", () => `${genuine}\n`],
    ["a character before the signature", () => `${h}.${p}.=${s}`],
    ["standard base64's + and /", () => `${h}.${p}.${s.slice(0, -3)}+/${s.slice(-1)}`],
    ["an empty signature", () => `${h}.${p}.`],
    ["a segment one character too long to be base64", () => `${h}.${p}.${s}AA`],
  ])("refuses %s", async (_name, make) => {
    expect(await refused(make())).toEqual(NOT_CANONICAL);
  });

  it("refuses stray bits in a 43-character segment's last character (2 bits)", async () => {
    expect(s.length % 4).toBe(3);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (const bit of [1, 2]) {
      const last = alphabet[alphabet.indexOf(s.at(-1)!) ^ bit]!;
      expect(await refused(`${h}.${p}.${s.slice(0, -1)}${last}`)).toEqual(NOT_CANONICAL);
    }
    // A bit that is part of the hash is not a spelling question: the signature fails.
    const changed = alphabet[alphabet.indexOf(s.at(-1)!) ^ 4]!;
    expect(await refused(`${h}.${p}.${s.slice(0, -1)}${changed}`)).toEqual(notValid("ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
  });

  it("refuses stray bits in a 2-character tail (4 bits), and takes the tail without them", async () => {
    // The payload's length decides its tail: pad it until 2 characters are left over.
    let payload = "";
    for (let pad = 0; payload.length % 4 !== 2; pad++) payload = b64url(JSON.stringify(claims({ pad: "x".repeat(pad) })));
    const token = assemble(h, payload, hmac);
    expect(await verifyToken(keys, token, "access", options())).toMatchObject({ jti: "jti-1" });
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (const bit of [1, 2, 4, 8]) {
      const stray = `${payload.slice(0, -1)}${alphabet[alphabet.indexOf(payload.at(-1)!) ^ bit]}`;
      expect(await refused(assemble(h, stray, hmac))).toEqual(NOT_CANONICAL);
    }
  });

  it("refuses a header or payload that does not open with its brace", async () => {
    expect(await refused(signed(new RawJson(` ${JSON.stringify(claims())}`)))).toEqual(NOT_CANONICAL);
    expect(await refused(signed(new RawJson(`\uFEFF${JSON.stringify(claims())}`)))).toEqual(NOT_CANONICAL);
    expect(await refused(signed(claims(), new RawJson(` ${JSON.stringify(header)}`)))).toEqual(NOT_CANONICAL);
    expect(await refused(signed(claims(), new RawJson(`\n${JSON.stringify(header)}`)))).toEqual(NOT_CANONICAL);
  });

  it("refuses a payload that is not JSON", async () => {
    expect(await refused(signed(new RawJson("{not json")))).toEqual(notValid("ERR_JWT_INVALID"));
  });
});

describe("the header", () => {
  it.each(["jku", "x5u", "jwk", "x5c", "b64", "cty", "x5t", "zip"])("refuses a %s parameter, without following it", async (name) => {
    const value = name === "b64" ? false : name === "jwk" ? { kty: "oct", k: b64url(SIGNING_SECRET) } : "http://127.0.0.1:9/x";
    expect(await refused(signed(claims(), { ...header, [name]: value }))).toEqual(notValid("ERR_JWS_INVALID"));
  });

  it("refuses crit (jose itself supports no critical extension)", async () => {
    expect(await refused(signed(claims(), { ...header, crit: ["exp"] }))).toEqual(notValid("ERR_JOSE_NOT_SUPPORTED"));
  });

  it.each(["at+jwt", "jwt", "JOSE", ""])("refuses typ %j", async (typ) => {
    expect(await refused(signed(claims(), { ...header, typ }))).toEqual(notValid("ERR_JWS_INVALID"));
  });

  it.each([
    ["an unknown kid", "not-a-configured-kid"],
    ["no kid", undefined],
    ["a numeric kid", 7],
    ["the kid with a suffix", "SUFFIX"],
  ])("refuses %s", async (_name, kid) => {
    const head: Json = { alg: "HS256", typ: "JWT" };
    if (kid !== undefined) head.kid = kid === "SUFFIX" ? `${keys.signing.kid}x` : kid;
    expect(await refused(signed(claims(), head))).toEqual(notValid("ERR_JWKS_NO_MATCHING_KEY"));
  });

  it.each(["none", "None", "HS384", "HS512", "ES256", "RS256", "EdDSA", "PS256"])("refuses alg %s on an HS256 deployment", async (alg) => {
    const signature = alg === "none" || alg === "None" ? "" : alg === "HS384" || alg === "HS512" ? hmacSigner(alg === "HS384" ? "sha384" : "sha512", SIGNING_SECRET) : hmac;
    const token = forge({ ...header, alg }, claims(), signature);
    const { reason, message } = await refused(token);
    expect(reason).toBe("token_not_valid");
    expect(["ERR_JOSE_ALG_NOT_ALLOWED", "not three canonical base64url segments"]).toContain(message);
  });

  it("refuses a signature made with another secret under the real kid", async () => {
    expect(await refused(forge(header, claims(), hmacSigner("sha256", `${SIGNING_SECRET}!`)))).toEqual(notValid("ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
  });

  it("refuses a payload changed after signing", async () => {
    const { segments } = split(signToken(keys, spec(), {}));
    const changed = b64url(JSON.stringify(claims({ is_staff: true })));
    expect(await refused(`${segments[0]}.${changed}.${segments[2]}`)).toEqual(notValid("ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
  });
});

describe("time", () => {
  it("refuses exp in the past, and exp equal to now, as token_expired", async () => {
    expect(await refused(signed(claims({ exp: NOW_S - 1 })))).toEqual({ reason: "token_expired", message: "exp is in the past" });
    expect(await refused(signed(claims({ exp: NOW_S })))).toEqual({ reason: "token_expired", message: "exp is in the past" });
    expect(await verifyToken(keys, signed(claims({ exp: NOW_S + 1 })), "access", options())).toMatchObject({ exp: NOW_S + 1 });
  });

  it("accepts exp within JWT_LEEWAY past, in whole seconds", async () => {
    // jose takes exp while exp > now − leeway.
    const token = signed(claims({ exp: NOW_S - 30, iat: NOW_S - 60 }));
    expect(await verifyToken(keys, token, "access", options({ leewayMs: 31_999 }))).toMatchObject({ exp: NOW_S - 30 });
    expect(await refused(token, { leewayMs: 30_999 })).toEqual({ reason: "token_expired", message: "exp is in the past" });
    // 1.5 s of leeway is 1 s, as jose counts it.
    const oneSecond = signed(claims({ exp: NOW_S - 1, iat: NOW_S - 60 }));
    expect(await refused(oneSecond, { leewayMs: 1_500 })).toEqual({ reason: "token_expired", message: "exp is in the past" });
  });

  it("refuses iat in the future, beyond the leeway", async () => {
    expect(await refused(signed(claims({ iat: NOW_S + 1 })))).toEqual(notValid("iat is in the future"));
    expect(await verifyToken(keys, signed(claims({ iat: NOW_S + 5 })), "access", options({ leewayMs: 5_000 }))).toMatchObject({ iat: NOW_S + 5 });
    expect(await refused(signed(claims({ iat: NOW_S + 6 })), { leewayMs: 5_000 })).toEqual(notValid("iat is in the future"));
    expect(await refused(signed(claims({ iat: NOW_S + 2 })), { leewayMs: 1_999 })).toEqual(notValid("iat is in the future"));
  });

  it("refuses iat further back than the type lives (plus leeway)", async () => {
    const issued = (ago: number) => signed(claims({ iat: NOW_S - ago, exp: NOW_S + 10 }));
    const further = notValid("iat is further back than a token of this type lives");
    expect(await refused(issued(3601))).toEqual(further);
    // With 2 s of leeway, 3602 s is not too old, though its exp is too far from its iat.
    expect(await refused(issued(3602), { leewayMs: 2_000 })).toEqual(notValid("exp is further from iat than a token of this type lives"));
    expect(await refused(issued(3603), { leewayMs: 2_000 })).toEqual(further);
    expect(await verifyToken(keys, signed(claims({ iat: NOW_S - 3599, exp: NOW_S + 1 })), "access", options())).toMatchObject({ iat: NOW_S - 3599 });
    // A lifetime of part seconds counts as the next whole second here too.
    expect(await refused(signed(claims({ iat: NOW_S - 3601, exp: NOW_S + 1 })), { maxLifetimeMs: 3_600_001 })).toEqual(notValid("exp is further from iat than a token of this type lives"));
  });

  it("counts a lifetime of part seconds as the next whole second", async () => {
    const token = signed(claims({ iat: NOW_S - 3600, exp: NOW_S + 1 }));
    expect(await verifyToken(keys, token, "access", options({ maxLifetimeMs: 3_600_001 }))).toMatchObject({ exp: NOW_S + 1 });
    expect(await refused(token, { maxLifetimeMs: 3_600_000 })).toEqual(notValid("exp is further from iat than a token of this type lives"));
  });

  it("refuses exp further from iat than the type lives, and takes exactly the lifetime", async () => {
    expect(await verifyToken(keys, signed(claims({ exp: NOW_S + 3600 })), "access", options())).toMatchObject({ exp: NOW_S + 3600 });
    expect(await refused(signed(claims({ exp: NOW_S + 3601 })))).toEqual(notValid("exp is further from iat than a token of this type lives"));
  });

  it.each([
    ["a fractional exp", { exp: NOW_S + 10.5 }],
    ["a fractional iat", { iat: NOW_S - 0.5 }],
    ["an exp past safe integers", { exp: 1e20 }],
  ])("refuses %s", async (_name, over) => {
    expect(await refused(signed(claims(over)))).toEqual(notValid("exp or iat is not a whole number of seconds"));
  });

  it.each(["exp", "iat", "jti", "token_type"])("refuses a token without %s", async (name) => {
    expect(await refused(signed(without(name)))).toEqual(notValid("ERR_JWT_CLAIM_VALIDATION_FAILED"));
  });

  it("refuses an nbf in the future", async () => {
    expect(await refused(signed(claims({ nbf: NOW_S + 60 })))).toEqual(notValid("ERR_JWT_CLAIM_VALIDATION_FAILED"));
  });
});

describe("claims", () => {
  it.each(["sub", "user_id", "sid", "phone", "first_name", "last_name"])("refuses %s missing or not a string", async (name) => {
    expect(await refused(signed(without(name)))).toEqual(notValid(`claim ${name} missing or not a string`));
    expect(await refused(signed(claims({ [name]: 42 })))).toEqual(notValid(`claim ${name} missing or not a string`));
  });

  it("refuses a jti that is not a string (a missing one is jose's to refuse)", async () => {
    expect(await refused(signed(claims({ jti: 42 })))).toEqual(notValid("claim jti missing or not a string"));
  });

  it.each(["jti", "sid"])("refuses an empty %s", async (name) => {
    expect(await refused(signed(claims({ [name]: "" })))).toEqual(notValid(`claim ${name} is empty`));
  });

  it("refuses an empty sub (and user_id)", async () => {
    expect(await refused(signed(claims({ sub: "", user_id: "" })))).toEqual(notValid("claim sub is empty"));
  });

  it("takes empty names and phone (only identifiers must name something)", async () => {
    const token = signed(claims({ first_name: "", last_name: "", phone: "" }));
    expect(await verifyToken(keys, token, "access", options())).toMatchObject({ first_name: "", last_name: "", phone: "" });
  });

  it("refuses sub and user_id that differ", async () => {
    expect(await refused(signed(claims({ user_id: "user-2" })))).toEqual(notValid("sub and user_id differ"));
  });

  it.each([["missing", undefined], ["a string", "false"], ["a number", 0], ["null", null]])("refuses is_staff %s", async (_name, value) => {
    const payload = value === undefined ? without("is_staff") : claims({ is_staff: value });
    expect(await refused(signed(payload))).toEqual(notValid("claim is_staff missing or not a boolean"));
  });

  it("takes is_staff true", async () => {
    expect(await verifyToken(keys, signed(claims({ is_staff: true })), "access", options())).toMatchObject({ is_staff: true });
  });

  it("refuses a token_type that is neither access nor refresh as not valid", async () => {
    expect(await refused(signed(claims({ token_type: "id" })))).toEqual(notValid("token_type is not access"));
    expect(await refused(signed(claims({ token_type: "id" })), {}, "refresh")).toEqual(notValid("token_type is not refresh"));
  });

  it("refuses an iss that is not a string, when no issuer is configured", async () => {
    expect(await refused(signed(claims({ iss: 7 })))).toEqual(notValid("claim iss is not a string"));
    expect(await verifyToken(keys, signed(claims({ iss: "anyone" })), "access", options())).toMatchObject({ iss: "anyone" });
  });

  it("refuses an aud that is neither a string nor a list of strings", async () => {
    expect(await refused(signed(claims({ aud: 7 })))).toEqual(notValid("claim aud is not a string or a list of strings"));
    expect(await refused(signed(claims({ aud: ["a", 7] })))).toEqual(notValid("claim aud is not a string or a list of strings"));
    expect(await refused(signed(claims({ aud: { a: 1 } })))).toEqual(notValid("claim aud is not a string or a list of strings"));
    expect(await verifyToken(keys, signed(claims({ aud: ["a", "b"] })), "access", options())).toMatchObject({ aud: ["a", "b"] });
    expect(await verifyToken(keys, signed(claims({ aud: "a" })), "access", options())).toMatchObject({ aud: "a" });
    expect(await verifyToken(keys, signed(claims({ aud: [] })), "access", options())).toMatchObject({ aud: [] });
  });

  it("checks iss and aud when configured", async () => {
    const configured = { issuer: "https://id.example", audience: "api" };
    expect(await verifyToken(keys, signed(claims({ iss: "https://id.example", aud: "api" })), "access", options(configured))).toMatchObject({ iss: "https://id.example" });
    expect(await verifyToken(keys, signed(claims({ iss: "https://id.example", aud: ["web", "api"] })), "access", options(configured))).toMatchObject({ aud: ["web", "api"] });
    for (const over of [{ aud: "api" }, { iss: "https://id.example" }, { iss: "https://ID.example", aud: "api" }, { iss: "https://id.example", aud: "API" }, { iss: "https://id.example", aud: ["web"] }]) {
      expect(await refused(signed(claims(over)), configured)).toEqual(notValid("ERR_JWT_CLAIM_VALIDATION_FAILED"));
    }
  });
});

describe("each algorithm, and keys that must not be confused", () => {
  const pairs = {} as Record<Asymmetric, KeyPair>;
  const rings = {} as Record<Asymmetric, KeyRing>;
  beforeAll(async () => {
    for (const alg of ["ES256", "EdDSA", "RS256"] as const) {
      pairs[alg] = keyPair(alg);
      rings[alg] = await createKeyRing({ algorithm: alg, signingKey: pairs[alg].privatePem });
    }
  });

  it.each(["ES256", "EdDSA", "RS256"] as const)("%s: its own tokens verify; another key's do not", async (alg) => {
    const ring = rings[alg];
    expect(await verifyToken(ring, signToken(ring, spec(), {}), "access", options())).toEqual(claims());
    const head = { alg, kid: ring.signing.kid, typ: "JWT" };
    const other = keyPair(alg === "RS256" ? "ES256" : alg);
    if (alg !== "RS256") {
      expect(await refusal(verifyToken(ring, forge(head, claims(), signerFor(alg, other.privateKey)), "access", options()))).toEqual(notValid("ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
    }
    // The HS256 deployment's tokens mean nothing here, and the other way round.
    expect(await refusal(verifyToken(ring, signToken(keys, spec(), {}), "access", options()))).toEqual(notValid("ERR_JOSE_ALG_NOT_ALLOWED"));
    expect(await refusal(verifyToken(keys, signToken(ring, spec(), {}), "access", options()))).toEqual(notValid("ERR_JOSE_ALG_NOT_ALLOWED"));
  });

  it("refuses an HMAC keyed with the public key, even where HS256 is allowed", async () => {
    // ES256 signs; an HS256 secret is still accepted (rotation): HS256 is on the allow-list.
    const ring = await createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem, verifyKeys: SIGNING_SECRET });
    expect(ring.algorithms).toEqual(["ES256", "HS256"]);
    const forged = forge({ alg: "HS256", kid: ring.signing.kid, typ: "JWT" }, claims(), hmacSigner("sha256", pairs.ES256.publicPem));
    expect(await refusal(verifyToken(ring, forged, "access", options()))).toEqual(notValid("ERR_JWKS_NO_MATCHING_KEY"));
    // The HS256 key is only for HS256: its kid under ES256 is no key either.
    const swapped = forge({ alg: "ES256", kid: keys.signing.kid, typ: "JWT" }, claims(), signerFor("ES256", pairs.ES256.privateKey));
    expect(await refusal(verifyToken(ring, swapped, "access", options()))).toEqual(notValid("ERR_JWKS_NO_MATCHING_KEY"));
    // Each under its own algorithm verifies.
    expect(await verifyToken(ring, signToken(keys, spec(), {}), "access", options())).toEqual(claims());
    expect(await verifyToken(ring, signToken(ring, spec(), {}), "access", options())).toEqual(claims());
  });

  it("refuses an ES256 signature in DER rather than raw r||s", async () => {
    const ring = rings.ES256;
    const der = forge({ alg: "ES256", kid: ring.signing.kid, typ: "JWT" }, claims(), keySigner(pairs.ES256.privateKey, "sha256", { dsaEncoding: "der" }));
    expect(await refusal(verifyToken(ring, der, "access", options()))).toEqual(notValid("ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
  });
});


describe("what verification checks by hand (node:crypto, no longer jose)", () => {
  const es = {} as KeyPair;
  const ed = {} as KeyPair;
  const rs = {} as KeyPair;
  let esRing: KeyRing, edRing: KeyRing;
  const SIGNATURE_FAILED = notValid("ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
  const CLAIM_FAILED = notValid("ERR_JWT_CLAIM_VALIDATION_FAILED");
  beforeAll(async () => {
    Object.assign(es, keyPair("ES256"));
    Object.assign(ed, keyPair("EdDSA"));
    Object.assign(rs, keyPair("RS256"));
    esRing = await createKeyRing({ algorithm: "ES256", signingKey: es.privatePem });
    edRing = await createKeyRing({ algorithm: "EdDSA", signingKey: ed.privatePem });
  });
  const verifyIn = (ring: KeyRing, token: string) => refusal(verifyToken(ring, token, "access", options()));
  /** A genuine signature of `alg` over the token's input, then changed by `change`. */
  const resigned = (ring: KeyRing, signer: (input: string) => Buffer, change: (signature: Buffer) => Buffer) => {
    const head = { alg: ring.signing.alg, kid: ring.signing.kid, typ: "JWT" };
    return forge(head, claims(), (input) => change(signer(input)));
  };

  it.each([
    ["63 bytes", (s: Buffer) => s.subarray(0, 63)],
    ["65 bytes", (s: Buffer) => Buffer.concat([s, Buffer.from([0])])],
    ["128 bytes (twice over)", (s: Buffer) => Buffer.concat([s, s])],
  ])("ES256: refuses a signature of %s", async (_name, change) => {
    expect(await verifyIn(esRing, resigned(esRing, signerFor("ES256", es.privateKey), change))).toEqual(SIGNATURE_FAILED);
  });

  it.each([
    ["63 bytes", (s: Buffer) => s.subarray(0, 63)],
    ["65 bytes", (s: Buffer) => Buffer.concat([s, Buffer.from([0])])],
  ])("EdDSA: refuses a signature of %s", async (_name, change) => {
    expect(await verifyIn(edRing, resigned(edRing, signerFor("EdDSA", ed.privateKey), change))).toEqual(SIGNATURE_FAILED);
  });

  it.each([
    ["31 bytes", (s: Buffer) => s.subarray(0, 31)],
    ["33 bytes", (s: Buffer) => Buffer.concat([s, Buffer.from([0])])],
    ["64 bytes (an HS512-sized tag)", (s: Buffer) => Buffer.concat([s, s])],
    ["1 byte", (s: Buffer) => s.subarray(0, 1)],
  ])("HS256: refuses a tag of %s", async (_name, change) => {
    expect(await refused(forge(header, claims(), (input) => change(hmac(input))))).toEqual(SIGNATURE_FAILED);
  });

  it("RS256: refuses a signature of the wrong length, without throwing", async () => {
    const rsRing = await createKeyRing({ algorithm: "RS256", signingKey: rs.privatePem });
    const head = { alg: "RS256", kid: rsRing.signing.kid, typ: "JWT" };
    for (const bytes of [1, 255, 257, 512]) {
      expect(await verifyIn(rsRing, forge(head, claims(), Buffer.alloc(bytes, 7)))).toEqual(SIGNATURE_FAILED);
    }
  });

  it("refuses an RS256 token presented under an ES256 key's kid", async () => {
    const rsToken = forge({ alg: "RS256", kid: esRing.signing.kid, typ: "JWT" }, claims(), signerFor("RS256", rs.privateKey));
    // RS256 is not on an ES256-only ring's allow-list at all...
    expect(await verifyIn(esRing, rsToken)).toEqual(notValid("ERR_JOSE_ALG_NOT_ALLOWED"));
    // ... and where it is (an RSA key kept for rotation), the ES256 kid still names no RS256 key.
    const mixed = await createKeyRing({ algorithm: "ES256", signingKey: es.privatePem, verifyKeys: rs.publicPem });
    expect(mixed.algorithms).toEqual(["ES256", "RS256"]);
    expect(await verifyIn(mixed, rsToken)).toEqual(notValid("ERR_JWKS_NO_MATCHING_KEY"));
  });

  it("refuses a key whose type is not its algorithm's, should a ring ever be built wrong", async () => {
    const kid = "mislabelled";
    const wrong = { verification: new Map([[kid, { kid, alg: "ES256" as const, key: rs.publicKey }]]), algorithms: ["ES256" as const] };
    const token = forge({ alg: "ES256", kid, typ: "JWT" }, claims(), signerFor("RS256", rs.privateKey));
    expect(await refusal(verifyToken(wrong, token, "access", options()))).toEqual(SIGNATURE_FAILED);
  });

  it("refuses a header or payload that is a JSON array or null (not even canonical: it does not open with a brace)", async () => {
    expect(await refused(signed(claims(), new RawJson("[]")))).toEqual(NOT_CANONICAL);
    expect(await refused(signed(claims(), new RawJson("null")))).toEqual(NOT_CANONICAL);
    expect(await refused(signed(new RawJson(JSON.stringify([claims()]))))).toEqual(NOT_CANONICAL);
    expect(await refused(signed(new RawJson("null")))).toEqual(NOT_CANONICAL);
  });

  it("refuses a header or payload that is not UTF-8, as jose's strict decoder did", async () => {
    const invalid = (json: string) => new RawJson(Buffer.concat([Buffer.from(json.slice(0, -2)), Buffer.from([0xff]), Buffer.from(json.slice(-2))]));
    expect(await refused(signed(claims(), invalid(JSON.stringify(header))))).toEqual(notValid("ERR_JWS_INVALID"));
    expect(await refused(signed(invalid(JSON.stringify(claims()))))).toEqual(notValid("ERR_JWT_INVALID"));
  });

  it.each([
    ["an empty list", []],
    ["a string", "exp"],
    ["b64 without b64 in the header", ["b64"]],
    ["an empty name", [""]],
  ])("refuses crit as %s (invalid, not unsupported)", async (_name, crit) => {
    expect(await refused(signed(claims(), { ...header, crit }))).toEqual(notValid("ERR_JWS_INVALID"));
  });

  it.each(["exp", "iat", "nbf"])("refuses %s as a string", async (name) => {
    expect(await refused(signed(claims({ [name]: String(NOW_S) })))).toEqual(CLAIM_FAILED);
  });

  it.each([
    ["exp", "1e400"],
    ["iat", "1e400"],
    ["iat", "-1e400"],
    ["nbf", "1e400"],
    ["nbf", "-1e400"],
  ])("refuses %s of %s (JSON.parse makes it infinite)", async (name, text) => {
    const payload = JSON.stringify(claims({ [name]: 0 })).replace(`"${name}":0`, `"${name}":${text}`);
    expect(payload).toContain(text);
    expect(await refused(signed(new RawJson(payload)))).toEqual(CLAIM_FAILED);
  });

  it("takes an nbf that has come, and one within the leeway", async () => {
    expect(await verifyToken(keys, signed(claims({ nbf: NOW_S })), "access", options())).toMatchObject({ nbf: NOW_S });
    expect(await verifyToken(keys, signed(claims({ nbf: NOW_S + 5 })), "access", options({ leewayMs: 5_999 }))).toMatchObject({ nbf: NOW_S + 5 });
    expect(await refused(signed(claims({ nbf: NOW_S + 6 })), { leewayMs: 5_999 })).toEqual(CLAIM_FAILED);
  });
});
