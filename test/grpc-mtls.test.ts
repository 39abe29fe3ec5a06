/**
 * The gRPC port with TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE: TLS only,
 * callers identified by a certificate from that CA (mTLS), their subject on each
 * RPC's log line at debug level; reflection and health through `buf curl --cacert`.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../gen/identity/v1/token_pb.js";
import { makeCertificates, type TestCertificates } from "./support/certs.js";
import { failure, freshStores, registerUser, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { h2Handshake, plaintextOutcome, servedFingerprint } from "./support/tls-clients.js";

const run = promisify(execFile);
const BUF = join(process.cwd(), "node_modules", ".bin", "buf");

describe("gRPC over mutual TLS", () => {
  let certs: TestCertificates;
  let stores: Stores;
  let service: Service;
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: "debug" },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );

  beforeAll(async () => {
    [certs, stores] = await Promise.all([makeCertificates(), freshStores("embedded")]);
    service = await startService(stores, {
      env: { TLS_CERT_FILE: certs.server.certFile, TLS_KEY_FILE: certs.server.keyFile, TLS_CLIENT_CA_FILE: certs.ca.file },
      clientTls: { ca: certs.ca.pem, cert: certs.client.cert, key: certs.client.key },
      logger: log,
    });
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
    await certs?.remove();
  });

  const tokenClient = (nodeOptions: { ca: Buffer; cert?: Buffer; key?: Buffer }) =>
    createClient(TokenService, createGrpcTransport({ baseUrl: `https://127.0.0.1:${service.port}`, nodeOptions }));

  it("serves a caller presenting a certificate from TLS_CLIENT_CA_FILE, with the server certificate for 127.0.0.1", async () => {
    const { tokens, user } = await registerUser(service);
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true, user: { id: user.id } });
    expect(await servedFingerprint(service.port, { ca: certs.ca.pem, cert: certs.client.cert, key: certs.client.key })).toBe(certs.server.fingerprint);
  });

  it("refuses a caller without a client certificate", async () => {
    // A served Verify of a bad token answers valid=false; here the call itself fails.
    expect(await failure(tokenClient({ ca: certs.ca.pem }).verify({ token: "x" }))).toMatchObject({ reason: "" });
    expect(await h2Handshake(service.port, { ca: certs.ca.pem })).toMatch(/alert certificate required/);
  });

  it("refuses a caller whose certificate comes from another CA", async () => {
    const stranger = tokenClient({ ca: certs.ca.pem, cert: certs.foreignClient.cert, key: certs.foreignClient.key });
    expect(await failure(stranger.verify({ token: "x" }))).toMatchObject({ reason: "" });
    expect(await h2Handshake(service.port, { ca: certs.ca.pem, cert: certs.foreignClient.cert, key: certs.foreignClient.key })).not.toBe("served");
    expect(await h2Handshake(service.port, { ca: certs.ca.pem, cert: certs.client.cert, key: certs.client.key })).toBe("served");
  });

  it("gives a plaintext client no service (h2c with prior knowledge, and HTTP/1.1)", async () => {
    expect(await plaintextOutcome(service.port, "h2c")).toBe("refused");
    expect(await plaintextOutcome(service.port, "http/1.1")).toBe("refused");
    const plaintext = createClient(TokenService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
    expect(await failure(plaintext.verify({ token: "x" }))).toMatchObject({ reason: "" });
  });

  it("logs the caller's certificate subject with each RPC at debug level, and not at info", async () => {
    lines.length = 0;
    await service.token.verify({ token: "x" });
    expect(lines.find((line) => line.msg === "rpc")).toMatchObject({ rpc: "identity.v1.TokenService/Verify", clientCert: "CN=billing-service, O=Backends" });
    log.level = "info";
    try {
      lines.length = 0;
      await service.token.verify({ token: "x" });
      const line = lines.find((l) => l.msg === "rpc");
      expect(line).toMatchObject({ rpc: "identity.v1.TokenService/Verify" });
      expect(line).not.toHaveProperty("clientCert");
    } finally {
      log.level = "debug";
    }
  });

  it("answers reflection and health through buf curl with --cacert and the client certificate", async () => {
    const url = `https://127.0.0.1:${service.port}`;
    const tls = ["--protocol", "grpc", "--cacert", certs.ca.file, "--cert", certs.client.certFile, "--key", certs.client.keyFile];
    const listed = await run(BUF, ["curl", ...tls, "--list-services", url], { timeout: 15_000 });
    expect(listed.stdout.split("\n")).toEqual(expect.arrayContaining(["identity.v1.AuthService", "identity.v1.TokenService", "grpc.health.v1.Health"]));
    const checked = await run(BUF, ["curl", ...tls, "-d", "{}", `${url}/grpc.health.v1.Health/Check`], { timeout: 15_000 });
    expect(JSON.parse(checked.stdout)).toEqual({ status: "SERVING" });
    const withoutCert = await run(BUF, ["curl", "--protocol", "grpc", "--cacert", certs.ca.file, "-d", "{}", `${url}/grpc.health.v1.Health/Check`], { timeout: 15_000 }).catch((error: { code: number; stderr: string }) => error);
    expect(withoutCert).toMatchObject({ code: expect.any(Number) });
  });
});
