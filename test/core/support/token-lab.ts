/**
 * What the token tests share: a signed-in user on a core lab, the exact refusal a
 * call ends in, asymmetric keys as configuration strings, and a logger whose
 * debug lines the test can read.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import { expect } from "vitest";
import { AppError } from "../../../src/core/errors.js";
import { sendOtp } from "../../../src/core/otp/send.js";
import type { SignedIn } from "../../../src/core/sessions/start.js";
import { register } from "../../../src/core/users/register.js";
import type { CoreLab } from "./core-deps.js";

/** Registers a user on `phone` (written as 0912…) through the real flow. */
export async function signIn(lab: CoreLab, phone = "09121234567"): Promise<SignedIn> {
  await sendOtp(lab.deps, { phone, purpose: "register", client: { ip: "203.0.113.1", userAgent: null }, locale: "en" });
  const code = lab.sms.codeFor(`+98${phone.slice(1)}`, "register");
  return register(lab.deps, { phone, code, firstName: "Sara", lastName: "Ahmadi", client: { ip: "203.0.113.1", userAgent: null } });
}

export interface Refusal {
  reason: string;
  message: string;
}

/** The AppError `run` ends in, as reason and message (fails the test if it resolves). */
export async function refusal(run: Promise<unknown>): Promise<Refusal> {
  try {
    await run;
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    const { reason, message } = error as AppError;
    return { reason, message };
  }
  throw new Error("expected a refusal, but the call succeeded");
}

export type Asymmetric = "ES256" | "EdDSA" | "RS256";

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** JWT_SIGNING_KEY as an operator writes it. */
  privatePem: string;
  /** A JWT_VERIFY_KEYS entry. */
  publicPem: string;
}

/** A fresh key pair (RS256 takes a moment: generate once per file). */
export function keyPair(alg: Asymmetric): KeyPair {
  const { privateKey, publicKey } =
    alg === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : alg === "EdDSA" ? generateKeyPairSync("ed25519") : generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    privateKey,
    publicKey,
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

/** A debug-level logger and the objects it wrote. */
export function debugLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: "debug" }, stream), lines };
}
