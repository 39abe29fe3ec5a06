/**
 * One `SERVICE_ROLE=all` process with TLS_CERT_FILE and TLS_KEY_FILE, as deployed:
 * both ports TLS only (a plaintext client gets no service), the bridge with HTTP/1.1
 * and h2 by ALPN and Strict-Transport-Security, every surface over TLS; SIGHUP
 * rotates the certificate on both ports for new connections while HTTP/2 connections
 * opened before keep serving, and a reload with a broken file keeps the old one.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../gen/identity/v1/token_pb.js";
import { startServiceProcess, type ServiceProcess } from "./support/bridge-processes.js";
import { makeCertificates, type TestCertificates } from "./support/certs.js";
import { eventually } from "./support/eventually.js";
import { freshPhone } from "./support/phones.js";
import { REDIS_URL, freshDatabase, freshKeyPrefix, realStoresAvailable } from "./support/services.js";
import { startSmsInbox, type SmsInbox } from "./support/sms-inbox.js";
import { grpcHealthCheck, http2Call, https1, openHttp2, plaintextOutcome, servedFingerprint, sessionFingerprint } from "./support/tls-clients.js";

const run = promisify(execFile);
const BUF = join(process.cwd(), "node_modules", ".bin", "buf");

describe.runIf(realStoresAvailable())("both servers over TLS, in one process", () => {
  let certs: TestCertificates;
  let db: { url: string; drop: () => Promise<void> };
  let inbox: SmsInbox;
  let service: ServiceProcess;
  let grpcPort: number;
  let httpPort: number;
  let bridgeUrl: string;

  beforeAll(async () => {
    [certs, db, inbox] = await Promise.all([makeCertificates(), freshDatabase(), startSmsInbox()]);
    service = await startServiceProcess({
      SERVICE_ROLE: "all",
      HOST: "127.0.0.1",
      GRPC_PORT: "0",
      HTTP_PORT: "0",
      DATABASE_URL: db.url,
      REDIS_URL,
      REDIS_KEY_PREFIX: freshKeyPrefix(),
      SMS_PROVIDER: "webhook",
      SMS_WEBHOOK_URL: inbox.url,
      TLS_CERT_FILE: certs.served.certFile,
      TLS_KEY_FILE: certs.served.keyFile,
    });
    grpcPort = Number(service.listening.grpcPort);
    httpPort = Number(service.listening.httpPort);
    bridgeUrl = String(service.listening.http);
  });
  afterAll(async () => {
    await service?.stop();
    await Promise.all([db?.drop(), inbox?.close(), certs?.remove()]);
  });

  const trusting = () => ({ ca: certs.ca.pem });

  it("says https:// in its start-up line and serves the certificate for 127.0.0.1 on both ports", async () => {
    expect(bridgeUrl).toBe(`https://127.0.0.1:${httpPort}`);
    expect(await servedFingerprint(grpcPort, trusting())).toBe(certs.server.fingerprint);
    expect(await servedFingerprint(httpPort, trusting())).toBe(certs.server.fingerprint);
  });

  it("gives plaintext clients no service on either port (HTTP/1.1 or h2c)", async () => {
    for (const port of [grpcPort, httpPort]) {
      expect(await plaintextOutcome(port, "http/1.1")).toBe("refused");
      expect(await plaintextOutcome(port, "h2c")).toBe("refused");
    }
  });

  it("serves /api over HTTP/1.1 when ALPN offers http/1.1, with Strict-Transport-Security", async () => {
    const phone = freshPhone().local;
    const sent = await https1(`${bridgeUrl}/api/send-otp/`, trusting(), { method: "POST", json: { phone, purpose: "register" } });
    expect(sent).toMatchObject({ status: 200, alpn: "http/1.1" });
    expect(sent.headers["strict-transport-security"]).toBe("max-age=63072000; includeSubDomains");
    const page = await https1(`${bridgeUrl}/`, trusting());
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toContain("text/html");
    expect(page.headers["strict-transport-security"]).toBe("max-age=63072000; includeSubDomains");
  });

  it("picks h2 by ALPN for an HTTP/2 client: /api, health and static files, with Strict-Transport-Security", async () => {
    const session = await openHttp2(bridgeUrl, trusting());
    try {
      expect(session.alpnProtocol).toBe("h2");
      for (const path of ["/healthz", "/readyz", "/static/css/demo.css"]) {
        const answer = await http2Call(session, { ":path": path });
        expect(answer.status, path).toBe(200);
        expect(answer.headers["strict-transport-security"]).toBe("max-age=63072000; includeSubDomains");
      }
      const refused = await http2Call(session, { ":method": "POST", ":path": "/api/token/verify/", "content-type": "application/json" }, Buffer.from('{"token":"x"}'));
      expect(refused.status).toBe(401);
    } finally {
      session.close();
    }
  });

  it("answers the Connect protocol over HTTPS with HTTP/1.1 and with h2", async () => {
    for (const httpVersion of ["1.1", "2"] as const) {
      const token = createClient(TokenService, createConnectTransport({ baseUrl: bridgeUrl, httpVersion, nodeOptions: trusting() }));
      expect(await token.verify({ token: "x" }), httpVersion).toMatchObject({ valid: false, reason: "token_not_valid" });
    }
  });

  it("answers reflection and health on the gRPC port through buf curl with --cacert", async () => {
    const url = `https://127.0.0.1:${grpcPort}`;
    const listed = await run(BUF, ["curl", "--protocol", "grpc", "--cacert", certs.ca.file, "--list-services", url], { timeout: 15_000 });
    expect(listed.stdout.split("\n")).toEqual(expect.arrayContaining(["identity.v1.TokenService", "grpc.health.v1.Health"]));
    const checked = await run(BUF, ["curl", "--protocol", "grpc", "--cacert", certs.ca.file, "-d", "{}", `${url}/grpc.health.v1.Health/Check`], { timeout: 15_000 });
    expect(JSON.parse(checked.stdout)).toEqual({ status: "SERVING" });
  });

  it("keeps the HTTP/2 header budget over TLS on both ports (431 on the bridge, RESOURCE_EXHAUSTED on gRPC)", async () => {
    const filler = { "x-filler": "a".repeat(17 * 1024) };
    const [grpc, bridge] = await Promise.all([openHttp2(`https://127.0.0.1:${grpcPort}`, trusting()), openHttp2(bridgeUrl, trusting())]);
    try {
      expect((await http2Call(bridge, { ":path": "/healthz", ...filler })).status).toBe(431);
      const refused = await http2Call(grpc, { ":method": "POST", ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", ...filler }, new Uint8Array(5));
      expect(refused.headers["grpc-status"] ?? refused.trailers["grpc-status"]).toBe("8");
    } finally {
      grpc.close();
      bridge.close();
    }
  });

  const reloads = () => service.log.filter((line) => typeof line.msg === "string" && line.msg.startsWith("TLS server certificates"));

  it("on SIGHUP serves the new certificate to new connections on both ports, while HTTP/2 connections opened before keep serving", async () => {
    const [grpcBefore, bridgeBefore] = await Promise.all([openHttp2(`https://127.0.0.1:${grpcPort}`, trusting()), openHttp2(bridgeUrl, trusting())]);
    try {
      const seen = reloads().length;
      await certs.serve(certs.nextServer);
      process.kill(service.pid, "SIGHUP");
      await eventually(async () => reloads().length, (n) => n > seen);
      expect(reloads().at(-1)).toMatchObject({ msg: "TLS server certificates reloaded", fingerprint: certs.nextServer.fingerprint });

      expect(await servedFingerprint(grpcPort, trusting())).toBe(certs.nextServer.fingerprint);
      expect(await servedFingerprint(httpPort, trusting())).toBe(certs.nextServer.fingerprint);
      // The connections from before: still the old certificate, still answering.
      expect(sessionFingerprint(grpcBefore)).toBe(certs.server.fingerprint);
      expect(await grpcHealthCheck(grpcBefore)).toBe("0");
      expect(sessionFingerprint(bridgeBefore)).toBe(certs.server.fingerprint);
      expect((await http2Call(bridgeBefore, { ":path": "/healthz" })).status).toBe(200);
    } finally {
      grpcBefore.close();
      bridgeBefore.close();
    }
  });

  it("keeps the certificate in use when a reload finds a broken or mismatched file, with one line saying why", async () => {
    const before = await servedFingerprint(grpcPort, trusting());
    const cases = [
      { write: () => writeFile(certs.served.keyFile, "not a key\n"), says: "TLS_KEY_FILE" },
      // The other certificate's key: each file fine, the pair not.
      { write: () => writeFile(certs.served.keyFile, certs.server.key), says: "is not the private key of the certificate" },
    ];
    for (const { write, says } of cases) {
      const seen = reloads().length;
      await write();
      process.kill(service.pid, "SIGHUP");
      await eventually(async () => reloads().length, (n) => n > seen);
      expect(reloads().length).toBe(seen + 1);
      const line = reloads().at(-1)!;
      expect(line).toMatchObject({ level: 50, fingerprint: before });
      expect(String(line.msg)).toContain("not reloaded");
      expect(String(line.msg)).toContain(says);
      expect(await servedFingerprint(grpcPort, trusting())).toBe(before);
      expect(await servedFingerprint(httpPort, trusting())).toBe(before);
      const session = await openHttp2(`https://127.0.0.1:${grpcPort}`, trusting());
      expect(await grpcHealthCheck(session)).toBe("0");
      session.close();
    }
  });
});
