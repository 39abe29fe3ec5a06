/**
 * The Connect protocol paths of the bridge (`/identity.v1.AuthService/*`,
 * `/identity.v1.TokenService/*`): typed clients over HTTP/1.1 JSON and h2c binary,
 * gRPC on the same port, and errors with their `google.rpc.ErrorInfo` reason.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { AuthService, OtpPurpose } from "../gen/identity/v1/auth_pb.js";
import { TokenService } from "../gen/identity/v1/token_pb.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { realStoresAvailable } from "./support/services.js";
import { freshPhone } from "./support/phones.js";

const API_KEY = "web-backend-key-0123456789";

async function refusal(call: Promise<unknown>): Promise<{ code: Code; reason: string | undefined; message: string; metadata: Record<string, string> }> {
  try {
    await call;
  } catch (error) {
    const e = ConnectError.from(error);
    const info = e.findDetails(ErrorInfoSchema)[0];
    return { code: e.code, reason: info?.reason, message: e.rawMessage, metadata: info?.metadata ?? {} };
  }
  throw new Error("the call succeeded");
}

describe.runIf(realStoresAvailable())("Connect protocol on the bridge", () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness({ env: { SERVICE_API_KEYS: `web:${API_KEY}` } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("serves AuthService in Connect JSON over HTTP/1.1, with the authenticated response headers", async () => {
    const auth = createClient(AuthService, createConnectTransport({ baseUrl: h.url, httpVersion: "1.1" }));
    const phone = freshPhone();
    const sent = await auth.sendOtp({ phone: phone.local, purpose: OtpPurpose.REGISTER });
    expect(sent.expiresIn).toBe(120);
    const code = h.inbox.codeFor(phone.e164);
    const registered = await auth.register({ phone: phone.local, code, firstName: "Nima" });
    expect(registered.user?.phone).toBe(phone.e164);

    let header: Headers | undefined;
    const profile = await auth.getProfile({}, { headers: { authorization: `Bearer ${registered.tokens!.access}` }, onHeader: (h) => (header = h) });
    expect(profile.user?.firstName).toBe("Nima");
    expect(header?.get("x-authenticated")).toBe("true");
    expect(header?.get("x-token-expires-at")).toMatch(/^\d+$/);
  });

  it("serves TokenService in Connect binary over h2c", async () => {
    const { tokens, user } = await h.signUp();
    const token = createClient(TokenService, createConnectTransport({ baseUrl: h.url, httpVersion: "2", useBinaryFormat: true }));
    const verified = await token.verify({ token: tokens.access });
    expect(verified).toMatchObject({ valid: true, tokenType: "access", user: { id: user.id } });
    const refused = await token.verify({ token: tokens.refresh });
    expect(refused).toMatchObject({ valid: false, reason: "token_wrong_type" });
  });

  it("serves gRPC on the same port", async () => {
    const token = createClient(TokenService, createGrpcTransport({ baseUrl: h.url }));
    const jwks = await token.getJwks({});
    expect(jwks.keys[0]?.alg).toBe("ES256");
  });

  it("reports refusals with the gRPC code of the reason and an ErrorInfo, in the caller's language", async () => {
    const auth = createClient(AuthService, createConnectTransport({ baseUrl: h.url, httpVersion: "1.1" }));
    const missing = await refusal(auth.getProfile({}, { headers: { "accept-language": "en" } }));
    expect(missing).toMatchObject({ code: Code.Unauthenticated, reason: "not_authenticated", message: "Authentication credentials were not provided." });

    const phone = freshPhone().local;
    await auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
    const limited = await refusal(auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER }));
    expect(limited).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
    expect(Number(limited.metadata.retry_after)).toBeGreaterThan(0);

    const invalid = await refusal(auth.sendOtp({ phone: "12", purpose: OtpPurpose.LOGIN }));
    expect(invalid).toMatchObject({ code: Code.InvalidArgument, reason: "invalid_phone" });
  });

  it("passes the x-api-key through to Introspect", async () => {
    const { tokens, user } = await h.signUp();
    const token = createClient(TokenService, createConnectTransport({ baseUrl: h.url, httpVersion: "1.1" }));
    const active = await token.introspect({ token: tokens.refresh }, { headers: { "x-api-key": API_KEY } });
    expect(active).toMatchObject({ active: true, sub: user.id, tokenType: "refresh", username: user.phone });
    expect(await refusal(token.introspect({ token: tokens.refresh }))).toMatchObject({ code: Code.Unauthenticated, reason: "not_authenticated" });
  });

  it("answers an unknown method with 404 in the envelope", async () => {
    const answer = await h.request("POST", "/identity.v1.AuthService/DeleteEverything", { json: {} });
    expect(answer.status).toBe(404);
    expect(answer.body.data.code).toBe("not_found");
  });
});
