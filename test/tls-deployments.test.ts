/**
 * TLS as deployments use it, in real processes: the split deployment over mutual
 * TLS (a bridge verifying its https:// upstream with GRPC_UPSTREAM_CA_FILE and
 * presenting GRPC_CLIENT_CERT_FILE, read again on SIGHUP), WORKERS=2 where every worker takes a SIGHUP
 * reload, start-up refusals of bad files in one line, and the production warning
 * about plaintext on a reachable address.
 */
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requester } from "./support/bridge-server.js";
import { runServiceProcessToExit, startServiceProcess, startSplitDeployment, type ServiceProcess, type SplitDeployment } from "./support/bridge-processes.js";
import { makeCertificates, type Issued, type TestCertificates } from "./support/certs.js";
import { eventually } from "./support/eventually.js";
import { freshPhone } from "./support/phones.js";
import { REDIS_URL, freshDatabase, freshKeyPrefix, realStoresAvailable } from "./support/services.js";
import { startSmsInbox, type SmsInbox } from "./support/sms-inbox.js";
import { servedFingerprint } from "./support/tls-clients.js";

let certs: TestCertificates;
beforeAll(async () => {
  certs = await makeCertificates();
});
afterAll(async () => {
  await certs?.remove();
});

const mutualTls = () => ({ TLS_CERT_FILE: certs.server.certFile, TLS_KEY_FILE: certs.server.keyFile, TLS_CLIENT_CA_FILE: certs.ca.file });

describe.runIf(realStoresAvailable())("the split deployment over mutual TLS", () => {
  let split: SplitDeployment;
  /** Where the bridge reads its client certificate (a test swaps what is there). */
  let presented: { certFile: string; keyFile: string };
  const present = async (issued: Issued) => {
    await Promise.all([copyFile(issued.certFile, presented.certFile), copyFile(issued.keyFile, presented.keyFile)]);
  };
  beforeAll(async () => {
    presented = { certFile: join(certs.dir, "presented.pem"), keyFile: join(certs.dir, "presented.key") };
    await present(certs.client);
    split = await startSplitDeployment(mutualTls(), {
      GRPC_UPSTREAM_CA_FILE: certs.ca.file,
      GRPC_CLIENT_CERT_FILE: presented.certFile,
      GRPC_CLIENT_KEY_FILE: presented.keyFile,
    });
  });
  afterAll(async () => {
    await split?.close();
  });

  it("signs up through a bridge calling an https:// GRPC_UPSTREAM with its client certificate", async () => {
    expect(split.bridge.listening.upstream).toBe(`https://127.0.0.1:${String(split.grpc.listening.grpcPort)}`);
    const request = requester(split.url);
    expect((await request("GET", "/readyz")).status).toBe(200);
    const phone = freshPhone();
    expect((await request("POST", "/api/send-otp/", { json: { phone: phone.local, purpose: "register" } })).status).toBe(200);
    const code = split.inbox.codeFor(phone.e164, "register");
    const registered = await request("POST", "/api/register/", { json: { phone: phone.local, code, first_name: "Sara", last_name: "Ahmadi" } });
    expect(registered.status).toBe(201);
  });

  it("on SIGHUP the bridge presents the client certificate now in its files to the upstream", async () => {
    const request = requester(split.url);
    const reloads = () => split.bridge.log.filter((line) => line.msg === "TLS upstream certificates reloaded");
    const reloadBridge = async () => {
      const seen = reloads().length;
      process.kill(split.bridge.pid, "SIGHUP");
      await eventually(async () => reloads().length, (n) => n > seen);
    };
    try {
      await present(certs.foreignClient);
      await reloadBridge();
      expect(reloads().at(-1)).toMatchObject({ fingerprint: certs.foreignClient.fingerprint });
      // The upstream refuses the stranger's certificate on the bridge's next connection.
      await eventually(async () => (await request("GET", "/readyz")).status, (status) => status === 503);
    } finally {
      await present(certs.client);
      await reloadBridge();
    }
    await eventually(async () => (await request("GET", "/readyz")).status, (status) => status === 200);
  });

  it("is refused by the upstream when the bridge presents no client certificate", async () => {
    const bridge = await startServiceProcess({
      SERVICE_ROLE: "bridge",
      HOST: "127.0.0.1",
      HTTP_PORT: "0",
      GRPC_UPSTREAM: `https://127.0.0.1:${String(split.grpc.listening.grpcPort)}`,
      GRPC_UPSTREAM_CA_FILE: certs.ca.file,
    });
    try {
      const request = requester(String(bridge.listening.http));
      expect((await request("GET", "/readyz")).status).toBe(503);
      // Not served: the upstream's refusal reaches the bridge as a failed call.
      expect((await request("POST", "/api/send-otp/", { json: { phone: freshPhone().local, purpose: "register" } })).status).toBeGreaterThanOrEqual(500);
    } finally {
      await bridge.stop();
    }
  });
});

describe.runIf(realStoresAvailable())("WORKERS=2 over TLS", () => {
  let db: { url: string; drop: () => Promise<void> };
  let inbox: SmsInbox;
  let service: ServiceProcess;
  const workersListening = () => service.log.filter((line) => typeof line.msg === "string" && line.msg.startsWith("identity listening"));
  const reloads = () => service.log.filter((line) => line.msg === "TLS server certificates reloaded");

  beforeAll(async () => {
    [db, inbox] = await Promise.all([freshDatabase(), startSmsInbox()]);
    service = await startServiceProcess({
      SERVICE_ROLE: "grpc",
      WORKERS: "2",
      HOST: "127.0.0.1",
      GRPC_PORT: "0",
      DATABASE_URL: db.url,
      REDIS_URL,
      REDIS_KEY_PREFIX: freshKeyPrefix(),
      SMS_PROVIDER: "webhook",
      SMS_WEBHOOK_URL: inbox.url,
      JWT_ALGORITHM: "HS256",
      JWT_SIGNING_KEY: "tls-workers-test-secret-of-at-least-32-bytes",
      TLS_CERT_FILE: certs.served.certFile,
      TLS_KEY_FILE: certs.served.keyFile,
    });
    await eventually(async () => workersListening().length, (n) => n === 2, { withinMs: 30_000 });
  });
  afterAll(async () => {
    await service?.stop();
    await Promise.all([db?.drop(), inbox?.close(), certs.serve(certs.server)]);
  });

  it("reloads in every worker when the primary gets SIGHUP: every new connection gets the new certificate", async () => {
    const port = Number(workersListening()[0]!.grpcPort);
    const trusting = { ca: certs.ca.pem };
    for (let i = 0; i < 4; i++) expect(await servedFingerprint(port, trusting)).toBe(certs.server.fingerprint);

    await certs.serve(certs.nextServer);
    process.kill(service.pid, "SIGHUP");
    await eventually(async () => reloads().length, (n) => n >= 2);
    expect(new Set(reloads().map((line) => line.pid)).size).toBe(2);
    expect(reloads().map((line) => line.fingerprint)).toEqual([certs.nextServer.fingerprint, certs.nextServer.fingerprint]);
    // Connections are dealt to the workers in turn: eight reach both of them.
    for (let i = 0; i < 8; i++) expect(await servedFingerprint(port, trusting)).toBe(certs.nextServer.fingerprint);
  });
});

describe("start-up refusals", () => {
  it("stops with one line naming TLS_KEY_FILE when the key is not the certificate's", async () => {
    const exited = await runServiceProcessToExit({ SERVICE_ROLE: "bridge", HTTP_PORT: "0", GRPC_UPSTREAM: "http://127.0.0.1:1", TLS_CERT_FILE: certs.server.certFile, TLS_KEY_FILE: certs.nextServer.keyFile });
    expect(exited.code).toBe(1);
    expect(exited.stderr.trim().split("\n")).toEqual([`identity: cannot start: TLS_KEY_FILE: ${certs.nextServer.keyFile} is not the private key of the certificate in TLS_CERT_FILE (${certs.server.certFile})`]);
  });

  it("stops with one line naming TLS_CERT_FILE when it cannot be read", async () => {
    const exited = await runServiceProcessToExit({ SERVICE_ROLE: "bridge", HTTP_PORT: "0", GRPC_UPSTREAM: "http://127.0.0.1:1", TLS_CERT_FILE: "/nonexistent/cert.pem", TLS_KEY_FILE: certs.server.keyFile });
    expect(exited.code).toBe(1);
    expect(exited.stderr.trim().split("\n")).toEqual(["identity: cannot start: TLS_CERT_FILE: cannot read /nonexistent/cert.pem (ENOENT)"]);
  });
});

describe("NODE_ENV=production serving plaintext", () => {
  const production = {
    NODE_ENV: "production",
    SERVICE_ROLE: "bridge",
    HTTP_PORT: "0",
    GRPC_UPSTREAM: "http://127.0.0.1:1",
    JWT_SIGNING_KEY: "production-test-secret-of-at-least-32-bytes",
    JWT_ALGORITHM: "HS256",
    SMS_PROVIDER: "webhook",
    SMS_WEBHOOK_URL: "http://127.0.0.1:1/sms",
    SMS_WEBHOOK_SECRET: "a-webhook-secret",
    SERVICE_API_KEYS: "billing:0123456789abcdef",
  };
  const warnings = (service: ServiceProcess) => service.log.filter((line) => line.level === 40 && String(line.msg).startsWith("serving plaintext"));

  it("warns (and still starts) on a non-loopback HOST without TLS, and not once TLS is set", async () => {
    const plaintext = await startServiceProcess({ ...production, HOST: "0.0.0.0" });
    try {
      expect(warnings(plaintext)).toEqual([expect.objectContaining({ host: "0.0.0.0" })]);
    } finally {
      await plaintext.stop();
    }
    const secure = await startServiceProcess({ ...production, HOST: "0.0.0.0", TLS_CERT_FILE: certs.server.certFile, TLS_KEY_FILE: certs.server.keyFile });
    try {
      expect(warnings(secure)).toEqual([]);
      expect(secure.listening.http).toMatch(/^https:/);
    } finally {
      await secure.stop();
    }
  });
});
