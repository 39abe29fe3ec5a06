/** `identity keys generate` and `identity keys jwks`: the keys of JWT_SIGNING_KEY / JWT_VERIFY_KEYS. */
import { loadConfig } from "../config.js";
import { createKeyRing, generateSigningKey, publishedJwks } from "../core/tokens/keys.js";
import { withServiceKey } from "../store/dev-keys.js";
import type { Run } from "./commands.js";
import { UsageError } from "./errors.js";

/** What --alg accepts: the asymmetric algorithms (an HS256 secret is any 32 random bytes). */
export const GENERATED_ALGORITHMS = ["ES256", "EdDSA", "RS256"] as const;

/** Prints a new private key, PKCS#8 PEM, for JWT_SIGNING_KEY. Nothing is stored. */
export const generateKeyCommand: Run = async (args) => {
  const text = args.string("alg") ?? "ES256";
  const algorithm = GENERATED_ALGORITHMS.find((alg) => alg === text);
  if (algorithm === undefined) throw new UsageError(`--alg "${text}" is not one of ${GENERATED_ALGORITHMS.join(", ")}`);
  return (await generateSigningKey(algorithm)).trimEnd();
};

/** Prints the public JWKS of the configured keys, as GetJwks and /api/jwks/ publish it. */
export const jwksCommand: Run = async () => {
  const config = await withServiceKey(loadConfig());
  const { tokens } = config;
  const keys = await createKeyRing({ algorithm: tokens.algorithm, signingKey: tokens.signingKey ?? "", verifyKeys: tokens.verifyKeys });
  return JSON.stringify(publishedJwks(keys), null, 2);
};
