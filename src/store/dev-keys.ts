/**
 * Development signing keys, generated on first start and kept under DATA_DIR so a
 * restart keeps issued tokens valid. Production refuses to run with these.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError, type Config, type JwtAlgorithm } from "../config.js";
import { generateSigningKey } from "../core/tokens/keys.js";

function devKeyFile(dataDir: string, algorithm: JwtAlgorithm): string {
  return join(dataDir, "keys", algorithm === "HS256" ? "hs256.secret" : `${algorithm.toLowerCase()}.pem`);
}

/** The development key the service made under `dataDir`, if it has made one. */
export async function loadDevKey(dataDir: string, algorithm: JwtAlgorithm): Promise<string | undefined> {
  try {
    return await readFile(devKeyFile(dataDir, algorithm), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

export async function loadOrCreateDevKey(dataDir: string, algorithm: JwtAlgorithm): Promise<{ key: string; created: boolean }> {
  const existing = await loadDevKey(dataDir, algorithm);
  if (existing !== undefined) return { key: existing, created: false };
  const file = devKeyFile(dataDir, algorithm);
  await mkdir(join(dataDir, "keys"), { recursive: true, mode: 0o700 });
  const key = algorithm === "HS256" ? randomBytes(48).toString("base64url") : await generateSigningKey(algorithm);
  // "wx": if another process created it meanwhile, keep theirs.
  try {
    await writeFile(file, key, { mode: 0o600, flag: "wx" });
    return { key, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return { key: await readFile(file, "utf8"), created: false };
    throw error;
  }
}

/**
 * The configuration with the service's signing key: JWT_SIGNING_KEY, or the
 * development key the service made under DATA_DIR. Never a key of its own: what
 * reads it (the library, `identity keys jwks`) must see the service's keys.
 */
export async function withServiceKey(config: Config): Promise<Config> {
  if (config.tokens.signingKey !== undefined) return config;
  const signingKey = await loadDevKey(config.dataDir, config.tokens.algorithm);
  if (signingKey === undefined) {
    throw new ConfigError(
      "JWT_SIGNING_KEY",
      `is not set and the service has made no development key under DATA_DIR (${config.dataDir}): set JWT_SIGNING_KEY to the service's key, or DATA_DIR to the service's`,
    );
  }
  return { ...config, tokens: { ...config.tokens, signingKey } };
}
