/**
 * Certificates read from files, checked before use, and read again on demand
 * (SIGHUP) without a restart: the servers (TLS_CERT_FILE, TLS_KEY_FILE,
 * TLS_CLIENT_CA_FILE) and the bridge's upstream client (GRPC_UPSTREAM_CA_FILE,
 * GRPC_CLIENT_CERT_FILE, GRPC_CLIENT_KEY_FILE) all go through here.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { ConfigError, type TlsFile, type TlsFiles } from "../config.js";

/** The files' contents, checked: a PEM certificate, the key that matches it, a PEM CA. */
export interface TlsMaterial {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
  /** SHA-256 fingerprint of the certificate (as `openssl x509 -fingerprint -sha256` prints it). */
  fingerprint?: string;
}

function readPem(file: TlsFile): Buffer {
  try {
    return readFileSync(file.path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(file.variable, `cannot read ${file.path}${code === undefined ? "" : ` (${code})`}`);
  }
}

function parse<T>(file: TlsFile, what: string, make: () => T): T {
  try {
    return make();
  } catch {
    throw new ConfigError(file.variable, `${file.path} holds no ${what}`);
  }
}

/**
 * Reads and checks the files: each readable, a certificate and a CA that parse, a key
 * that is the certificate's own. Throws a ConfigError naming the variable at fault.
 */
export function readTls(files: TlsFiles): TlsMaterial {
  const material: TlsMaterial = {};
  let certificate: X509Certificate | undefined;
  let privateKey: KeyObject | undefined;
  if (files.cert !== undefined) {
    const cert = (material.cert = readPem(files.cert));
    certificate = parse(files.cert, "PEM certificate", () => new X509Certificate(cert));
    material.fingerprint = certificate.fingerprint256;
  }
  if (files.key !== undefined) {
    const key = (material.key = readPem(files.key));
    privateKey = parse(files.key, "PEM private key", () => createPrivateKey(key));
  }
  if (files.ca !== undefined) {
    const ca = (material.ca = readPem(files.ca));
    parse(files.ca, "PEM certificate", () => new X509Certificate(ca));
  }
  if (certificate !== undefined && privateKey !== undefined && !certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(files.key!.variable, `${files.key!.path} is not the private key of the certificate in ${files.cert!.variable} (${files.cert!.path})`);
  }
  // What OpenSSL itself would refuse (an unsupported key, a chain out of order) is
  // refused here, before a server is handed it: grpc-js stops accepting connections
  // when its new context fails.
  try {
    createSecureContext(contextOptions(material));
  } catch (error) {
    throw new ConfigError((files.cert ?? files.ca ?? files.key)!.variable, `OpenSSL refuses it: ${(error as Error).message}`);
  }
  return material;
}

/** The material as node:tls takes it. */
export function contextOptions(material: TlsMaterial): SecureContextOptions {
  return { cert: material.cert, key: material.key, ca: material.ca };
}

export type ReloadOutcome = { ok: true; fingerprint: string | undefined; changed: boolean } | { ok: false; problem: string; kept: string | undefined };

/**
 * Material that can be read again: `reload()` rereads the files and, if they pass
 * the checks, hands the new material to every subscriber; if not, the material in
 * use stays and the outcome says why (never a throw: a bad file must not stop a
 * serving process).
 */
export class ReloadableTls {
  private current: TlsMaterial;
  private readonly listeners = new Set<(material: TlsMaterial) => void>();

  /** Reads the files now: a problem at start-up is a ConfigError. */
  constructor(readonly files: TlsFiles) {
    this.current = readTls(files);
  }

  get material(): TlsMaterial {
    return this.current;
  }

  /** Calls `listener` with each new material; returns how to stop. */
  subscribe(listener: (material: TlsMaterial) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  reload(): ReloadOutcome {
    let next: TlsMaterial;
    try {
      next = readTls(this.files);
    } catch (error) {
      return { ok: false, problem: error instanceof Error ? error.message : String(error), kept: this.current.fingerprint };
    }
    const changed = !sameMaterial(next, this.current);
    this.current = next;
    if (changed) for (const listener of this.listeners) listener(next);
    return { ok: true, fingerprint: next.fingerprint, changed };
  }
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  const same = (x: Buffer | undefined, y: Buffer | undefined) => (x === undefined ? y === undefined : y !== undefined && x.equals(y));
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.ca, b.ca);
}
