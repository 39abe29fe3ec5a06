/**
 * The `/api` routes of DESIGN.md. Each is one RPC: JSON body → request message,
 * response message → JSON. Refusals are thrown and answered by the dispatcher.
 */
import type { Client } from "@connectrpc/connect";
import { AppError, isReason } from "../../src/core/errors.js";
import { otpPurposeNamed } from "../../src/rpc/index.js";
import type { AuthService } from "../../gen/identity/v1/auth_pb.js";
import type { TokenService } from "../../gen/identity/v1/token_pb.js";
import { readJsonObject } from "../http/body.js";
import { sendJson, sendSuccess } from "../http/envelope.js";
import type { Exchange } from "../http/exchange.js";
import type { Router } from "../http/router.js";
import { authenticatedHeaders, call } from "./call.js";
import { fields } from "./fields.js";
import { auditEventJson, claimsUserJson, iso, jwksJson, sessionJson, tokensJson, userJson } from "./json.js";

export interface ApiClients {
  auth: Client<typeof AuthService>;
  token: Client<typeof TokenService>;
}

/** Token answers must not be kept by any cache (they are anyway `no-store`, see envelope.ts). */
const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };

export function addApiRoutes(router: Router, { auth, token }: ApiClients, maxBodyBytes: number): void {
  const body = (ex: Exchange) => readJsonObject(ex, maxBodyBytes);

  router.add("POST", "/api/send-otp/", async (ex) => {
    const f = fields(await body(ex), { phone: "string", purpose: "string" });
    const { message } = await call(ex, (o) => auth.sendOtp({ phone: f.phone, purpose: otpPurposeNamed(f.purpose) }, o));
    sendSuccess(ex, 200, "otp_sent", { expires_in: message.expiresIn, resend_after: message.resendAfter, code_length: message.codeLength });
  });

  router.add("POST", "/api/register/", async (ex) => {
    const f = fields(await body(ex), { phone: "string", code: "string", first_name: "string?", last_name: "string?" });
    const { message } = await call(ex, (o) => auth.register({ phone: f.phone, code: f.code, firstName: f.first_name ?? "", lastName: f.last_name ?? "" }, o));
    sendSuccess(ex, 201, "registered", { user: userJson(message.user), tokens: tokensJson(message.tokens) }, NO_STORE);
  });

  router.add("POST", "/api/login/", async (ex) => {
    const f = fields(await body(ex), { phone: "string", code: "string" });
    const { message } = await call(ex, (o) => auth.login({ phone: f.phone, code: f.code }, o));
    sendSuccess(ex, 200, "logged_in", { user: userJson(message.user), tokens: tokensJson(message.tokens) }, NO_STORE);
  });

  router.add("POST", "/api/token/refresh/", async (ex) => {
    const f = fields(await body(ex), { refresh: "string" });
    const { message } = await call(ex, (o) => token.refresh({ refresh: f.refresh }, o));
    sendSuccess(ex, 200, "refreshed", tokensJson(message.tokens) ?? {}, NO_STORE);
  });

  // Verify answers "not valid" as a message; over HTTP that is a 401/403 with the reason.
  router.add("POST", "/api/token/verify/", async (ex) => {
    const f = fields(await body(ex), { token: "string" });
    const { message } = await call(ex, (o) => token.verify({ token: f.token }, o));
    if (!message.valid) throw new AppError(isReason(message.reason) ? message.reason : "token_not_valid");
    sendSuccess(ex, 200, "token_valid", { valid: true, token_type: message.tokenType, expires_at: iso(message.expiresAt), user: claimsUserJson(message.user) }, NO_STORE);
  });

  router.add("POST", "/api/logout/", async (ex) => {
    const f = fields(await body(ex), { refresh: "string" });
    await call(ex, (o) => auth.logout({ refresh: f.refresh }, o));
    sendSuccess(ex, 200, "logged_out", {});
  });

  router.add("POST", "/api/logout-all/", async (ex) => {
    const { message, header } = await call(ex, (o) => auth.logoutAll({}, o));
    sendSuccess(ex, 200, "logged_out_all", { revoked: message.revoked }, authenticatedHeaders(header));
  });

  router.add("GET", "/api/sessions/", async (ex) => {
    const { message, header } = await call(ex, (o) => auth.listSessions({}, o));
    sendSuccess(ex, 200, "sessions", { sessions: message.sessions.map(sessionJson) }, authenticatedHeaders(header));
  });

  router.add("DELETE", "/api/sessions/{id}/", async (ex, params) => {
    const { header } = await call(ex, (o) => auth.revokeSession({ sessionId: params.id ?? "" }, o));
    sendSuccess(ex, 200, "session_ended", { revoked: true }, authenticatedHeaders(header));
  });

  router.add("POST", "/api/logout-others/", async (ex) => {
    const { message, header } = await call(ex, (o) => auth.logoutOthers({}, o));
    sendSuccess(ex, 200, "logged_out_others", { revoked: message.revoked }, authenticatedHeaders(header));
  });

  router.add("GET", "/api/dashboard/", async (ex) => {
    const { message, header } = await call(ex, (o) => auth.getProfile({}, o));
    sendSuccess(ex, 200, "ok", { user: userJson(message.user) }, authenticatedHeaders(header));
  });

  router.add("PATCH", "/api/profile/", async (ex) => {
    const f = fields(await body(ex), { first_name: "string?", last_name: "string?" });
    const { message, header } = await call(ex, (o) => auth.updateProfile({ firstName: f.first_name, lastName: f.last_name }, o));
    sendSuccess(ex, 200, "profile_updated", { user: userJson(message.user) }, authenticatedHeaders(header));
  });

  router.add("GET", "/api/activity/", async (ex) => {
    const { message, header } = await call(ex, (o) => auth.listActivity({}, o));
    sendSuccess(ex, 200, "activity", { events: message.events.map(auditEventJson) }, authenticatedHeaders(header));
  });

  const jwks = async (ex: Exchange) => {
    const { message } = await call(ex, (o) => token.getJwks({}, o));
    sendJson(ex.res, 200, jwksJson(message), { "Cache-Control": "public, max-age=300" });
  };
  router.add("GET", "/api/jwks/", jwks);
  router.add("GET", "/.well-known/jwks.json", jwks);
}
