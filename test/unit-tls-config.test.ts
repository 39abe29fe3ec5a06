/**
 * The TLS variables as configuration: pairs that come together, files that must be
 * readable and mean what they say (one line naming the variable), a reload that
 * keeps the material in use when the files went bad, and the production warning.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, plaintextWarning } from "../src/config.js";
import { ReloadableTls, readTls } from "../src/lib/tls.js";
import { makeCertificates, type TestCertificates } from "./support/certs.js";

let certs: TestCertificates;
beforeAll(async () => {
  certs = await makeCertificates();
});
afterAll(async () => {
  await certs?.remove();
});

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("TLS variables", () => {
  it("takes TLS_CERT_FILE and TLS_KEY_FILE together, TLS_CLIENT_CA_FILE only with them", () => {
    expect(refusal({ TLS_CERT_FILE: "/c.pem" })).toBe("TLS_KEY_FILE: is required with TLS_CERT_FILE (a certificate and its private key)");
    expect(refusal({ TLS_KEY_FILE: "/k.pem" })).toBe("TLS_CERT_FILE: is required with TLS_KEY_FILE (a certificate and its private key)");
    expect(refusal({ TLS_CLIENT_CA_FILE: "/ca.pem" })).toMatch(/^TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE/);
    expect(loadConfig({ TLS_CERT_FILE: "/c.pem", TLS_KEY_FILE: "/k.pem", TLS_CLIENT_CA_FILE: "/ca.pem" }).tls).toEqual({
      cert: { variable: "TLS_CERT_FILE", path: "/c.pem" },
      key: { variable: "TLS_KEY_FILE", path: "/k.pem" },
      ca: { variable: "TLS_CLIENT_CA_FILE", path: "/ca.pem" },
    });
    expect(loadConfig({}).tls).toBeUndefined();
  });

  it("refuses TLS_CLIENT_CA_FILE on a bridge: it never asks browsers for a certificate", () => {
    expect(refusal({ SERVICE_ROLE: "bridge", GRPC_UPSTREAM: "http://g:1", TLS_CERT_FILE: "/c", TLS_KEY_FILE: "/k", TLS_CLIENT_CA_FILE: "/ca" })).toMatch(/^TLS_CLIENT_CA_FILE: /);
  });

  it("takes the upstream client's files only for an https:// GRPC_UPSTREAM, the certificate with its key", () => {
    const bridge = { SERVICE_ROLE: "bridge", GRPC_UPSTREAM: "https://grpc.internal:50051" };
    expect(refusal({ SERVICE_ROLE: "bridge", GRPC_UPSTREAM: "http://g:1", GRPC_UPSTREAM_CA_FILE: "/ca" })).toBe("GRPC_UPSTREAM_CA_FILE: is used only with an https:// GRPC_UPSTREAM");
    expect(refusal({ SERVICE_ROLE: "bridge", GRPC_UPSTREAM: "http://g:1", GRPC_CLIENT_CERT_FILE: "/c", GRPC_CLIENT_KEY_FILE: "/k" })).toBe("GRPC_CLIENT_CERT_FILE: is used only with an https:// GRPC_UPSTREAM");
    expect(refusal({ ...bridge, GRPC_CLIENT_CERT_FILE: "/c" })).toMatch(/^GRPC_CLIENT_KEY_FILE: is required with GRPC_CLIENT_CERT_FILE/);
    expect(loadConfig(bridge).upstreamTls).toEqual({});
    expect(loadConfig({ ...bridge, GRPC_UPSTREAM_CA_FILE: "/ca", GRPC_CLIENT_CERT_FILE: "/c", GRPC_CLIENT_KEY_FILE: "/k" }).upstreamTls).toEqual({
      cert: { variable: "GRPC_CLIENT_CERT_FILE", path: "/c" },
      key: { variable: "GRPC_CLIENT_KEY_FILE", path: "/k" },
      ca: { variable: "GRPC_UPSTREAM_CA_FILE", path: "/ca" },
    });
  });

  it("warns of plaintext with NODE_ENV=production on a reachable HOST only", () => {
    const tls = { cert: { variable: "TLS_CERT_FILE", path: "/c" }, key: { variable: "TLS_KEY_FILE", path: "/k" } };
    expect(plaintextWarning({ production: true, tls: undefined, host: "0.0.0.0" })).toMatch(/^serving plaintext on 0\.0\.0\.0 with NODE_ENV=production/);
    expect(plaintextWarning({ production: true, tls: undefined, host: "10.1.2.3" })).toBeDefined();
    for (const host of ["127.0.0.1", "127.0.0.2", "::1", "localhost"]) expect(plaintextWarning({ production: true, tls: undefined, host })).toBeUndefined();
    expect(plaintextWarning({ production: true, tls, host: "0.0.0.0" })).toBeUndefined();
    expect(plaintextWarning({ production: false, tls: undefined, host: "0.0.0.0" })).toBeUndefined();
  });
});

describe("reading the certificate files", () => {
  const files = (cert: string, key: string, ca?: string) => ({
    cert: { variable: "TLS_CERT_FILE", path: cert },
    key: { variable: "TLS_KEY_FILE", path: key },
    ...(ca && { ca: { variable: "TLS_CLIENT_CA_FILE", path: ca } }),
  });

  it("reads a certificate, its key and a CA, with the certificate's fingerprint", () => {
    const material = readTls(files(certs.server.certFile, certs.server.keyFile, certs.ca.file));
    expect(material.fingerprint).toBe(certs.server.fingerprint);
    expect(material.ca?.equals(certs.ca.pem)).toBe(true);
  });

  it("names the variable of a file that is missing, not PEM, or not the certificate's key", async () => {
    const junk = join(certs.dir, "junk.pem");
    await writeFile(junk, "hello\n");
    expect(() => readTls(files("/nonexistent.pem", certs.server.keyFile))).toThrow("TLS_CERT_FILE: cannot read /nonexistent.pem (ENOENT)");
    expect(() => readTls(files(junk, certs.server.keyFile))).toThrow(`TLS_CERT_FILE: ${junk} holds no PEM certificate`);
    expect(() => readTls(files(certs.server.certFile, junk))).toThrow(`TLS_KEY_FILE: ${junk} holds no PEM private key`);
    expect(() => readTls(files(certs.server.certFile, certs.server.keyFile, junk))).toThrow(`TLS_CLIENT_CA_FILE: ${junk} holds no PEM certificate`);
    expect(() => readTls(files(certs.server.certFile, certs.nextServer.keyFile))).toThrow(/^TLS_KEY_FILE: .* is not the private key of the certificate in TLS_CERT_FILE/);
  });

  it("reloads good files for its subscribers, and keeps the material in use when they are not", async () => {
    const cert = join(certs.dir, "reload.pem");
    const key = join(certs.dir, "reload.key");
    await Promise.all([writeFile(cert, certs.server.cert), writeFile(key, certs.server.key)]);
    const tls = new ReloadableTls(files(cert, key));
    const seen: (string | undefined)[] = [];
    tls.subscribe((material) => seen.push(material.fingerprint));

    expect(tls.reload()).toEqual({ ok: true, fingerprint: certs.server.fingerprint, changed: false });
    expect(seen).toEqual([]);

    await writeFile(cert, certs.nextServer.cert); // the new certificate before its key: a mismatch
    expect(tls.reload()).toMatchObject({ ok: false, kept: certs.server.fingerprint, problem: expect.stringMatching(/^TLS_KEY_FILE: /) });
    expect(tls.material.fingerprint).toBe(certs.server.fingerprint);

    await writeFile(key, certs.nextServer.key);
    expect(tls.reload()).toEqual({ ok: true, fingerprint: certs.nextServer.fingerprint, changed: true });
    expect(seen).toEqual([certs.nextServer.fingerprint]);
  });
});
