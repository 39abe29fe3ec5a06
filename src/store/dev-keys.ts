/**
 * Development signing keys, generated on first start and kept under DATA_DIR so a
 * restart keeps issued tokens valid. Production refuses to run with these.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { exportPKCS8, generateKeyPair } from "jose";
import type { JwtAlgorithm } from "../config.js";

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
  const key = algorithm === "HS256" ? randomBytes(48).toString("base64url") : await exportPKCS8((await generateKeyPair(algorithm, { extractable: true })).privateKey);
  // "wx": if another process created it meanwhile, keep theirs.
  try {
    await writeFile(file, key, { mode: 0o600, flag: "wx" });
    return { key, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return { key: await readFile(file, "utf8"), created: false };
    throw error;
  }
}
