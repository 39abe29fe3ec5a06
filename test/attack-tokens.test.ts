/**
 * The token attack suite, in the spirit of jwt_tool and RFC 8725. Each forgery of
 * the catalogue (test/support/token-attacks.ts) is made from a real token of a live
 * session (so the attack is the only thing wrong with it) and presented to every
 * surface that takes a token: raw gRPC (Verify, Introspect, Bearer metadata, Refresh,
 * Logout), the bridge's Connect protocol, and the /api routes. Every one must be
 * refused with its documented reason, a generic localized message (the exact
 * sentence of the reason: nothing of the token is echoed), no 500 / INTERNAL, and
 * quickly; and no case may make the service fetch a key from a URL in the header.
 *
 * Deployments: ES256, RS256, EdDSA and HS256 (attacks that depend on the algorithm
 * run on each), and ES256 with JWT_ISSUER / JWT_AUDIENCE. They share one set of
 * stores. fast-check properties over the parser close the file.
 */
import { createServer, Agent, type Server } from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import fc from "fast-check";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HTTP_STATUS_OF_REASON, inProcess, startBridge, type RunningBridge } from "../bridge/index.js";
import { refusalMessage } from "../bridge/http/envelope.js";
import type { BridgeReason } from "../bridge/http/reasons.js";
import { AppError, type Reason } from "../src/core/errors.js";
import { createKeyRing, type KeyRing } from "../src/core/tokens/keys.js";
import { signToken } from "../src/core/tokens/sign.js";
import { verifyToken, type VerifyOptions } from "../src/core/tokens/verify.js";
import { GRPC_CODE_OF_REASON } from "../src/rpc/errors.js";
import { messageOf } from "../src/rpc/messages.js";
import { AuthService } from "../gen/identity/v1/auth_pb.js";
import { TokenService, type IntrospectResponse } from "../gen/identity/v1/token_pb.js";
import { forge, selfSignedCertificate, signerFor, split } from "./support/forge.js";
import { failure, freshStores, registerUser, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { apiCall, apiSurface, connectSurface, grpcSurface, Refusal, refusalOf, type Surface } from "./support/surfaces.js";
import {
  ACCESS_LIFETIME_S, ALGS, ATTACKER, attackerKeyFor, AUDIENCE, BASE64URL, catalogueFor, deploymentOf, ISSUER, issuerCases, KEYS, named, nowS, resign,
  signingKeyText, type Alg, type Attacker, type Case, type Deployment, type World,
} from "./support/token-attacks.js";

const API_KEY = "attack-suite-introspect-key-0123456789";
/** A loose bound to catch pathological work (a parser stuck on a huge header), not a benchmark. */
const CALL_BOUND_MS = 2000;

/** A deployment running: its service, its bridge, and a client on each surface. */
interface Running extends Deployment {
  service: Service;
  bridge: RunningBridge;
  /** gRPC and Connect answer in the default locale (Persian); /api is asked for English. */
  surfaces: { grpc: Surface; connect: Surface; api: Surface };
}

// --- The surfaces. ---

/** Refusals asserted, per surface (for SECURITY.md). */
const tally = new Map<string, number>();
const count = (surface: string) => tally.set(surface, (tally.get(surface) ?? 0) + 1);

async function within<T>(what: string, call: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await call();
  const ms = performance.now() - started;
  expect(ms, `${what}: answered in ${Math.round(ms)} ms`).toBeLessThan(CALL_BOUND_MS);
  return result;
}

/** The exact answer of a refusal over /api: the reason's status, its English sentence, its code, nothing else. */
function expectApiRefusal(answer: { status: number; body?: unknown; headers?: Headers }, reason: BridgeReason, where: string): void {
  expect({ status: answer.status, body: answer.body }, where).toEqual({
    status: HTTP_STATUS_OF_REASON[reason],
    body: { success: false, message: refusalMessage(reason, "en"), data: { code: reason } },
  });
  expect(answer.headers?.get("x-authenticated"), where).toBeNull();
}

/** The exact refusal, on any surface: over gRPC or Connect the reason's code, its Persian sentence (the default locale), no metadata. */
function expectRefusal(refusal: Refusal, reason: Reason, where: string): void {
  if (refusal.surface === "api") return expectApiRefusal(refusal, reason, where);
  expect({ code: refusal.status, reason: refusal.reason, metadata: refusal.metadata, message: refusal.text }, where).toEqual({
    code: GRPC_CODE_OF_REASON[reason],
    reason,
    metadata: {},
    message: messageOf(reason, "fa"),
  });
}

/** How /api/token/verify/ refused `token`: with a 401/403 verdict, or any other refusal. */
async function verifyRefused(api: Surface, token: string): Promise<Refusal> {
  const verdict = await api.verify(token).catch((error: unknown) => {
    if (error instanceof Refusal) return { refusal: error };
    throw error;
  });
  if (verdict.refusal === undefined) throw new Error(`expected a refusal, /api/token/verify/ answered ${JSON.stringify(verdict)}`);
  return verdict.refusal;
}

const INACTIVE = { active: false, sub: "", exp: 0n, iat: 0n, jti: "", tokenType: "", iss: "", aud: "", username: "", sid: "" };

/**
 * What a Bearer header can carry: the token as is (visible ASCII), or, with spaces
 * inside, a header the service must refuse as malformed. Tokens with line breaks,
 * NULs or edge whitespace cannot be sent unchanged (HTTP clients refuse or trim them).
 */
function bearerReason(token: string, reason: Reason): Reason | undefined {
  if (/^[\x21-\x7e]+$/.test(token)) return reason;
  if (/^[\x21-\x7e][\x20-\x7e]*[\x21-\x7e]$/.test(token)) return "not_authenticated";
  return undefined;
}

/** The case's forgery refused on every surface, and the attacker's server not asked for anything meanwhile. */
async function refusedEverywhere(d: Running, c: Case, token: string, attacker: Attacker): Promise<void> {
  const requestsBefore = attacker.server.requests.length;
  const where = (surface: string) => `${d.label} / ${c.name} / ${surface}`;
  const checks: Promise<unknown>[] = [];
  const check = (surface: string, run: (where: string) => Promise<void>) => checks.push(run(where(surface)).then(() => count(surface)));
  const { grpc, connect, api } = d.surfaces;
  const rpc = [["gRPC", grpc], ["Connect", connect]] as const;
  // A genuine token of the other type is active in Introspect (RFC 7662 answers for either type).
  const wrongType = c.reason === "token_wrong_type";
  const introspected = wrongType ? { active: true, tokenType: c.as === "access" ? "refresh" : "access" } : INACTIVE;
  const pick = (i: IntrospectResponse) =>
    wrongType ? { active: i.active, tokenType: i.tokenType } : { active: i.active, sub: i.sub, exp: i.exp, iat: i.iat, jti: i.jti, tokenType: i.tokenType, iss: i.iss, aud: i.aud, username: i.username, sid: i.sid };
  const hint = c.as === "access" ? "access_token" : "refresh_token";

  for (const [name, surface] of rpc) {
    check(`${name} Introspect`, async (w) => {
      const answer = await within(w, () => surface.introspect!(token, hint));
      expect(pick(answer), w).toEqual(introspected);
    });
  }
  if (c.as === "access") {
    for (const [name, surface] of rpc) {
      // Nothing of the token comes back: no type, user or expiry.
      check(`${name} Verify`, async (w) => expect(await within(w, () => surface.verify(token)), w).toEqual({ valid: false, reason: c.reason }));
    }
    check("/api/token/verify/", async (w) => expectRefusal(await within(w, () => verifyRefused(api, token)), c.reason, w));
    const viaBearer = bearerReason(token, c.reason);
    if (viaBearer !== undefined) {
      for (const [name, surface] of rpc) {
        check(`${name} Bearer (GetProfile)`, async (w) => expectRefusal(await within(w, () => refusalOf(surface.profile(token))), viaBearer, w));
      }
      check("/api Bearer (GET /api/dashboard/)", async (w) => expectRefusal(await within(w, () => refusalOf(api.profile(token))), viaBearer, w));
    }
  } else {
    for (const [name, surface] of rpc) {
      check(`${name} Refresh`, async (w) => expectRefusal(await within(w, () => refusalOf(surface.refresh(token))), c.reason, w));
      check(`${name} Logout`, async (w) => expectRefusal(await within(w, () => refusalOf(surface.logout(token))), c.reason, w));
    }
    check("/api/token/refresh/", async (w) => expectRefusal(await within(w, () => refusalOf(api.refresh(token))), c.reason, w));
    check("/api/logout/", async (w) => expectRefusal(await within(w, () => refusalOf(api.logout(token))), c.reason, w));
  }
  await Promise.all(checks);
  // Checked by each case, so it holds however the cases are run (alone, filtered, all).
  expect(attacker.server.requests.slice(requestsBefore), `${d.label} / ${c.name}: requests to the attacker's server (a jku or x5u fetched)`).toEqual([]);
}

// --- Deployments and the attacker's server. ---

async function startDeployment(stores: Stores, alg: Alg, label: string, env: Record<string, string> = {}): Promise<Running> {
  const service = await startService(stores, {
    env: { JWT_ALGORITHM: alg, JWT_SIGNING_KEY: signingKeyText(alg), SERVICE_API_KEYS: `attack-suite:${API_KEY}`, ACCESS_TOKEN_LIFETIME: `${ACCESS_LIFETIME_S}s`, ...env },
  });
  const bridge = await startBridge({ config: service.config, log: pino({ level: "silent" }), upstream: inProcess(service.app) });
  const { tokens } = await registerUser(service);
  const jwksText = await (await fetch(`${bridge.url}/.well-known/jwks.json`)).text();
  const surfaces = {
    grpc: grpcSurface(`http://127.0.0.1:${service.port}`, { apiKey: API_KEY }),
    connect: connectSurface(bridge.url, { apiKey: API_KEY }),
    api: apiSurface(bridge.url, { language: "en" }),
  };
  return { ...deploymentOf(alg, label, tokens, jwksText), service, bridge, surfaces };
}

async function stopDeployment(d: Running): Promise<void> {
  await d.bridge.close(500);
  await d.service.stop();
}

/** Answers any path with the attacker's JWKS (a server that followed jku would find the key), and notes every request: there must be none. */
async function startAttackerServer(): Promise<{ server: Server; url: string; requests: string[] }> {
  const requests: string[] = [];
  const jwks = JSON.stringify({ keys: ALGS.map((alg) => attackerKeyFor(alg).jwk) });
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { "content-type": "application/json" }).end(jwks);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** A raw HTTP/1.1 request (what fetch would refuse to send), answered by its status line. */
function rawStatusLine(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let received = "";
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
      if (received.includes("\r\n")) {
        socket.destroy();
        resolve(received.slice(0, received.indexOf("\r\n")));
      }
    });
    // The server may close while we are still writing a huge header: what it answered first counts.
    socket.on("error", () => (received.includes("\r\n") ? undefined : reject(new Error("the connection failed before any answer"))));
    socket.on("close", () => resolve(received.split("\r\n")[0] ?? ""));
    socket.write(request);
  });
}
async function genuineStillWorks(d: Running): Promise<void> {
  expect(await d.service.token.verify({ token: d.access }), d.label).toMatchObject({ valid: true, tokenType: "access" });
  expect(await d.surfaces.connect.verify(d.access), d.label).toMatchObject({ valid: true, token: { type: "access" } });
  expect(await d.surfaces.grpc.introspect!(d.refresh, "refresh_token"), d.label).toMatchObject({ active: true, tokenType: "refresh" });
  expect((await apiCall(d.bridge.url, "GET", "/api/dashboard/", { access: d.access })).status, d.label).toBe(200);
}

describe.runIf(realStoresAvailable())("forged and malformed tokens, through raw gRPC, Connect and /api", () => {
  let stores: Stores;
  const running = new Map<string, Running>();
  const world: World = { deployments: running, attacker: undefined as unknown as Attacker };
  let attackerServer: Server | undefined;

  beforeAll(async () => {
    stores = await freshStores("real");
    const server = await startAttackerServer();
    attackerServer = server.server;
    world.attacker = { server, certificate: selfSignedCertificate(ATTACKER.ES256.privateKey, ATTACKER.ES256.publicKey, "attacker") };
    for (const alg of ALGS) running.set(alg, await startDeployment(stores, alg, `${alg} deployment`));
    running.set("issuer", await startDeployment(stores, "ES256", `ES256 deployment with JWT_ISSUER and JWT_AUDIENCE`, { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE }));
  });

  afterAll(async () => {
    for (const d of running.values()) await stopDeployment(d);
    await new Promise<void>((resolve) => (attackerServer ? attackerServer.close(() => resolve()) : resolve()));
    await stores?.drop();
    const total = [...tally.values()].reduce((a, b) => a + b, 0);
    console.log(`refusals asserted per surface (${total} in all):\n${[...tally].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `  ${s}: ${n}`).join("\n")}`);
  });

  for (const alg of ALGS) {
    describe(`an ${alg} deployment`, () => {
      const d = () => running.get(alg)!;

      it("accepts its genuine tokens, and the same claims re-signed by hand (so each forgery below differs only by its attack)", async () => {
        await genuineStillWorks(d());
        expect(await d().service.token.verify({ token: resign(d()) })).toMatchObject({ valid: true });
        // The longest life an access token may claim is accepted; one second more is a case below.
        const longest = resign(d(), d().header, { ...d().claims, iat: nowS(), exp: nowS() + ACCESS_LIFETIME_S });
        expect(await d().service.token.verify({ token: longest })).toMatchObject({ valid: true });
        const refreshAgain = resign(d(), d().header, d().refreshClaims);
        expect(await d().service.token.introspect({ token: refreshAgain, tokenTypeHint: "refresh_token" }, { headers: { "x-api-key": API_KEY } })).toMatchObject({ active: true, tokenType: "refresh" });
      });

      it.each(named(catalogueFor(alg)))("refuses %s", async (_name, c) => {
        await refusedEverywhere(d(), c, c.make(d(), world), world.attacker);
      });

      it("still accepts the genuine tokens afterwards: no forgery revoked, rotated or cached anything", async () => {
        await genuineStillWorks(d());
      });
    });
  }

  describe("an ES256 deployment with JWT_ISSUER and JWT_AUDIENCE", () => {
    const d = () => running.get("issuer")!;

    it("accepts its genuine tokens, and an aud list that holds its audience (RFC 7519 §4.1.3)", async () => {
      expect(d().claims).toMatchObject({ iss: ISSUER, aud: AUDIENCE });
      await genuineStillWorks(d());
      expect(await d().service.token.verify({ token: resign(d(), d().header, { ...d().claims, aud: ["other", AUDIENCE] }) })).toMatchObject({ valid: true });
    });

    it.each(named(issuerCases()))("refuses %s", async (_name, c) => {
      await refusedEverywhere(d(), c, c.make(d(), world), world.attacker);
    });

    it("still accepts the genuine tokens afterwards", async () => {
      await genuineStillWorks(d());
    });
  });

  describe("empty, huge and oversized tokens", () => {
    const d = () => running.get("ES256")!;

    it("refuses an empty token: token_not_valid where a token field is given, not_authenticated for an empty Bearer", async () => {
      expect(await d().service.token.verify({ token: "" })).toMatchObject({ valid: false, reason: "token_not_valid" });
      expect(await d().surfaces.connect.verify("")).toMatchObject({ valid: false, reason: "token_not_valid" });
      expectRefusal(await verifyRefused(d().surfaces.api, ""), "token_not_valid", "/api/token/verify/");
      expectRefusal(await refusalOf(d().surfaces.grpc.profile("")), "not_authenticated", "gRPC");
      const bare = await apiCall(d().bridge.url, "GET", "/api/dashboard/", { headers: { authorization: "Bearer", "accept-language": "en" } });
      expectApiRefusal(bare, "not_authenticated", "/api/dashboard/");
    });

    it("answers a 60 KiB token, within every message limit, with a plain refusal and no parsing", async () => {
      const token = `${d().access}.${"A".repeat(60_000)}`;
      expect(await within("gRPC Verify", () => d().service.token.verify({ token }))).toMatchObject({ valid: false, reason: "token_not_valid" });
      expect(await within("Connect Verify", () => d().surfaces.connect.verify(token))).toMatchObject({ valid: false, reason: "token_not_valid" });
      expect(await within("gRPC Introspect", () => d().service.token.introspect({ token }, { headers: { "x-api-key": API_KEY } }))).toMatchObject({ active: false });
      expectRefusal(await within("/api", () => verifyRefused(d().surfaces.api, token)), "token_not_valid", "/api/token/verify/");
      expectRefusal(await within("/api", () => refusalOf(d().surfaces.api.refresh(token))), "token_not_valid", "/api/token/refresh/");
      // As metadata, 60 KB is over HTTP/2's 16 KB header budget (HTTP/1.1's too): refused
      // at the stream. Within the budget, the service answers with the plain refusal.
      const overBudget = await within("gRPC Bearer", () => refusalOf(d().surfaces.grpc.profile(token)));
      expect(overBudget.status).toBe(Code.ResourceExhausted);
      expect(overBudget.text).not.toContain("AAAA");
      const withinBudget = `${d().access}.${"A".repeat(12_000)}`;
      expectRefusal(await within("gRPC Bearer", () => refusalOf(d().surfaces.grpc.profile(withinBudget))), "token_not_valid", "gRPC Bearer");
    });

    it.each([100 * 1024, 1024 * 1024])("refuses a %i-byte token over the 64 KiB message limit cleanly (RESOURCE_EXHAUSTED, 413), and keeps serving", async (size) => {
      const token = "A".repeat(size);
      // Clients of their own, closed afterwards: grpc-js leaves the refused request's
      // stream half open until the client goes (see the report), and a connection
      // the bridge refused this way is not reused.
      const grpcSessions = new Http2SessionManager(`http://127.0.0.1:${d().service.port}`);
      const grpcClient = createClient(TokenService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${d().service.port}`, sessionManager: grpcSessions }));
      const grpc = await within("gRPC Verify", () => failure(grpcClient.verify({ token })));
      grpcSessions.abort();
      expect(grpc.code).toBe(Code.ResourceExhausted);
      expect(grpc.message).not.toContain("AAAA");
      const once = createClient(TokenService, createConnectTransport({ baseUrl: d().bridge.url, httpVersion: "1.1", nodeOptions: { agent: new Agent({ keepAlive: false }) } }));
      const connect = await within("Connect Verify", () => failure(once.verify({ token })));
      expect(connect.code).toBe(Code.ResourceExhausted);
      expect(connect.message).not.toContain("AAAA");
      expectApiRefusal(await within("/api", () => verifyRefused(d().surfaces.api, token)), "payload_too_large", "/api/token/verify/");
      await genuineStillWorks(d());
    });

    it.each([20 * 1024, 100 * 1024, 1024 * 1024])("answers a %i-byte Authorization header over HTTP/1.1 with 431, before any parsing, and keeps serving", async (size) => {
      const header = `Authorization: Bearer ${"A".repeat(size)}\r\n`;
      for (const request of [
        `GET /api/dashboard/ HTTP/1.1\r\nHost: a\r\n${header}\r\n`,
        `POST /identity.v1.AuthService/GetProfile HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\n${header}\r\n{}`,
      ]) {
        const status = await within("raw HTTP/1.1", () => rawStatusLine(d().bridge.port, request));
        expect(status).toBe("HTTP/1.1 431 Request Header Fields Too Large");
      }
      await genuineStillWorks(d());
    });

    it.each([100 * 1024, 1024 * 1024])("refuses %i bytes of Bearer metadata over HTTP/2 (gRPC and Connect) at the stream, and keeps serving", async (size) => {
      const token = "A".repeat(size);
      const grpcUrl = `http://127.0.0.1:${d().service.port}`;
      const sessions = [new Http2SessionManager(d().bridge.url), new Http2SessionManager(grpcUrl)] as const;
      const h2 = createClient(AuthService, createConnectTransport({ baseUrl: d().bridge.url, httpVersion: "2", sessionManager: sessions[0] }));
      const grpc = createClient(AuthService, createGrpcTransport({ baseUrl: grpcUrl, sessionManager: sessions[1] }));
      for (const [surface, call] of [
        ["gRPC", () => grpc.getProfile({}, { headers: { authorization: `Bearer ${token}` } })],
        ["Connect over h2", () => h2.getProfile({}, { headers: { authorization: `Bearer ${token}` } })],
      ] as const) {
        const refused = await within(surface, () => call().then(() => undefined, (e: unknown) => ConnectError.from(e)));
        expect(refused, `${surface}: the call must fail`).toBeInstanceOf(ConnectError);
        // Refused at the stream before the service sees it: past 16 KB by the HTTP/2
        // limits (RESOURCE_EXHAUSTED, 431), past 64 KiB by Node's own (RST_STREAM
        // REFUSED_STREAM, which connect-es reports as INTERNAL).
        expect([Code.Internal, Code.ResourceExhausted, Code.Unavailable], surface).toContain(refused!.code);
        expect(refused!.rawMessage).not.toContain("AAAA");
      }
      for (const manager of sessions) manager.abort();
      await genuineStillWorks(d());
    });
  });

  describe("/api/token/verify/ under fast-check", () => {
    it("answers any string, any JSON body and any mutation of a genuine token with a 400/401 envelope, never a 5xx", async () => {
      const d = running.get("ES256")!;
      const body = fc.oneof(
        fc.record({ token: fc.string({ maxLength: 300 }) }),
        fc.record({ token: mutatedToken(d.access) }),
        fc.record({ token: fc.jsonValue({ maxDepth: 3 }) }),
        fc.jsonValue({ maxDepth: 3 }),
      );
      await fc.assert(
        fc.asyncProperty(body, async (json) => {
          const answer = await apiCall(d.bridge.url, "POST", "/api/token/verify/", { json, headers: { "accept-language": "en" } });
          expect([400, 401]).toContain(answer.status);
          const envelope = JSON.parse(answer.text) as { success: boolean; message: string; data: { code: Reason } };
          expect(envelope.success).toBe(false);
          expect(HTTP_STATUS_OF_REASON[envelope.data.code]).toBe(answer.status);
          expect(envelope.message).toBe(messageOf(envelope.data.code, "en"));
        }),
        { numRuns: 150 },
      );
    });
  });
});

// --- The parser itself, under fast-check (no stores: cheap, many runs). ---

/** Any small damage to a token: a character replaced, dropped, doubled or inserted, a bit flipped in a segment's bytes, segments swapped, a cut. */
function mutatedToken(token: string): fc.Arbitrary<string> {
  const char = fc.constantFrom(...BASE64URL, ".", "=", "+", "/", " ", "\n", "\u0000", "é");
  const mutation = fc.oneof(
    fc.tuple(fc.constant("replace" as const), fc.nat(), char),
    fc.tuple(fc.constant("drop" as const), fc.nat(), fc.integer({ min: 1, max: 8 })),
    fc.tuple(fc.constant("double" as const), fc.nat(), fc.integer({ min: 1, max: 8 })),
    fc.tuple(fc.constant("insert" as const), fc.nat(), fc.string({ minLength: 1, maxLength: 4 })),
    fc.tuple(fc.constant("flip" as const), fc.nat(), fc.integer({ min: 0, max: 7 })),
    fc.tuple(fc.constant("swap" as const), fc.constantFrom([1, 0, 2], [0, 2, 1], [2, 1, 0], [1, 2, 0], [2, 0, 1]), fc.constant(0)),
    fc.tuple(fc.constant("cut" as const), fc.nat(), fc.constant(0)),
  );
  return fc.array(mutation, { minLength: 1, maxLength: 3 }).map((mutations) => {
    let t = token;
    for (const [kind, a, b] of mutations) {
      const at = typeof a === "number" ? a % (t.length + 1) : 0;
      if (kind === "replace") t = t.slice(0, at) + (b as string) + t.slice(at + 1);
      else if (kind === "drop") t = t.slice(0, at) + t.slice(at + (b as number));
      else if (kind === "double") t = t.slice(0, at + (b as number)) + t.slice(at);
      else if (kind === "insert") t = t.slice(0, at) + (b as string) + t.slice(at);
      else if (kind === "cut") t = t.slice(0, at);
      else if (kind === "swap") {
        const parts = t.split(".");
        t = (a as readonly number[]).map((i) => parts[i] ?? "").join(".");
      } else {
        // A bit flipped in the bytes a segment encodes, re-encoded canonically.
        const parts = t.split(".");
        const which = at % Math.max(parts.length, 1);
        const bytes = Buffer.from(parts[which] ?? "", "base64url");
        if (bytes.length > 0) {
          bytes[at % bytes.length]! ^= 1 << (b as number);
          parts[which] = bytes.toString("base64url");
          t = parts.join(".");
        }
      }
    }
    return t;
  }).filter((t) => t !== token);
}

describe("the token parser under fast-check", () => {
  const rings = new Map<Alg, KeyRing>();
  const now = Date.now();
  const options: VerifyOptions = { leewayMs: 0, maxLifetimeMs: ACCESS_LIFETIME_S * 1000, nowMs: now };
  const user = { id: "7c0b3a8e-9a57-4d2c-9b5e-0d7a1f1e2b3c", phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: false };
  const genuine = (ring: KeyRing) => signToken(ring, { type: "access", jti: "jti-1", sid: "sid-1", user, issuedAtMs: now, expiresAtMs: now + 600_000 }, {});
  const REASONS = ["token_not_valid", "token_expired", "token_wrong_type"];

  /** Resolves to "refused" with a domain reason; anything else (acceptance, a TypeError) fails the property. */
  async function refusal(ring: KeyRing, token: string): Promise<void> {
    const outcome = await verifyToken(ring, token, "access", options).then(
      () => "accepted",
      (error: unknown) => (error instanceof AppError && REASONS.includes(error.reason) ? "refused" : `threw ${String(error)}`),
    );
    expect(outcome, JSON.stringify(token).slice(0, 200)).toBe("refused");
  }

  beforeAll(async () => {
    for (const alg of ALGS) rings.set(alg, await createKeyRing({ algorithm: alg, signingKey: signingKeyText(alg) }));
  });

  it.each(ALGS)("never accepts any mutation of a genuine %s token", async (alg) => {
    const ring = rings.get(alg)!;
    const token = genuine(ring);
    await verifyToken(ring, token, "access", options);
    await fc.assert(fc.asyncProperty(mutatedToken(token), (t) => refusal(ring, t)), { numRuns: 400 });
  });

  it("refuses arbitrary strings, and token-shaped strings, with a domain error only", async () => {
    const ring = rings.get("ES256")!;
    const tokenish = fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{0,40}$/), { minLength: 1, maxLength: 5 }).map((parts) => parts.join("."));
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "binary", maxLength: 200 }), tokenish), (t) => refusal(ring, t)), { numRuns: 600 });
  });

  it("refuses arbitrary JSON headers and payloads under any signature, with a domain error only", async () => {
    const ring = rings.get("ES256")!;
    const kid = ring.signing.kid;
    const header = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record(
        { alg: fc.oneof(fc.constantFrom("ES256", "none", "HS256", "RS256", "EdDSA"), fc.jsonValue({ maxDepth: 1 })), kid: fc.oneof(fc.constant(kid), fc.jsonValue({ maxDepth: 1 })), typ: fc.constantFrom("JWT", "jwt") },
        { requiredKeys: [] },
      ),
    );
    const payload = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(split(genuine(ring)).payload));
    const signature = fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.constant(new Uint8Array(64)), fc.string({ maxLength: 90 }));
    await fc.assert(fc.asyncProperty(header, payload, signature, (h, p, s) => refusal(ring, forge(h, p, s))), { numRuns: 600 });
  });

  it("accepts claims signed by its own key only when every claim has its type and bound, so nothing malformed reaches the transports", async () => {
    const ring = rings.get("ES256")!;
    const key = KEYS.ES256.privateKey;
    const base = split(genuine(ring)).payload;
    // Each claim: mostly the genuine value; sometimes any JSON value, a number near
    // the genuine one (a fraction included), or nothing. nbf, iss and aud: mostly absent.
    const claim = (name: string): fc.Arbitrary<unknown> => {
      const value = base[name];
      if (value === undefined) return fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
      const near = typeof value === "number" ? [fc.double({ min: value - 7200, max: value + 7200, noNaN: true }), fc.integer({ min: value - 7200, max: value + 7200 })] : [];
      return fc.option(fc.oneof({ weight: 10, arbitrary: fc.constant(value) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, ...near.map((arbitrary) => ({ weight: 1, arbitrary }))), { freq: 20, nil: undefined });
    };
    const names = [...Object.keys(base), "nbf", "iss", "aud"];
    const claims = fc.tuple(...names.map(claim)).map((values) =>
      Object.fromEntries(names.map((name, i) => [name, values[i]]).filter(([, v]) => v !== undefined)),
    );
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(claims, async (payload) => {
        const token = forge({ alg: "ES256", kid: ring.signing.kid, typ: "JWT" }, payload, signerFor("ES256", key));
        const result = await verifyToken(ring, token, "access", options).then(
          (c) => c,
          (error: unknown) => {
            if (error instanceof AppError && REASONS.includes(error.reason)) return undefined;
            throw error;
          },
        );
        if (result === undefined) return;
        accepted += 1;
        const nowSeconds = Math.floor(now / 1000);
        expect(Number.isSafeInteger(result.exp) && Number.isSafeInteger(result.iat)).toBe(true);
        expect(result.iat).toBeLessThanOrEqual(nowSeconds);
        expect(result.exp).toBeGreaterThan(nowSeconds);
        expect(result.exp - result.iat).toBeLessThanOrEqual(ACCESS_LIFETIME_S);
        expect(result.token_type).toBe("access");
        for (const name of ["jti", "sub", "sid"] as const) expect(typeof result[name] === "string" && result[name] !== "").toBe(true);
        for (const name of ["user_id", "phone", "first_name", "last_name"] as const) expect(typeof result[name]).toBe("string");
        expect(typeof result.is_staff).toBe("boolean");
        expect(result.iss === undefined || typeof result.iss === "string").toBe(true);
        expect(result.aud === undefined || typeof result.aud === "string" || (Array.isArray(result.aud) && result.aud.every((a) => typeof a === "string"))).toBe(true);
        // What the transports do with them must work: Verify's Timestamp, Introspect's BigInt.
        expect(() => BigInt(result.exp) + BigInt(result.iat)).not.toThrow();
        expect(Number.isNaN(new Date(result.exp * 1000).getTime())).toBe(false);
      }),
      { numRuns: 600 },
    );
    // The property must have seen both outcomes to mean anything.
    expect(accepted).toBeGreaterThan(10);
  });
});
