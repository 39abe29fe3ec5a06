/**
 * The staff routes, `/api/admin/...` of DESIGN.md: each is one AdminService RPC,
 * authorized by the service (a staff member's Bearer, or a service's `X-API-Key`
 * with the admin scope, both passed on by `call`).
 */
import type { Client } from "@connectrpc/connect";
import type { AdminService } from "../../gen/identity/v1/admin_pb.js";
import { readJsonObject } from "../http/body.js";
import { sendSuccess } from "../http/envelope.js";
import type { Router } from "../http/router.js";
import { authenticatedHeaders, call } from "./call.js";
import { fields, onlyFields } from "./fields.js";
import { adminUserJson, auditEventJson } from "./json.js";
import { queryOf } from "./query.js";

const USER_CHANGES = { is_active: "boolean?", is_staff: "boolean?" } as const;

export function addAdminRoutes(router: Router, admin: Client<typeof AdminService>, maxBodyBytes: number): void {
  router.add("GET", "/api/admin/users/", async (ex) => {
    const q = queryOf(ex);
    const request = { query: q.text("q"), phone: q.text("phone"), pageSize: q.integer("page_size"), pageToken: q.text("page_token") };
    const { message, header } = await call(ex, (o) => admin.listUsers(request, o));
    sendSuccess(ex, 200, "ok", { users: message.users.map(adminUserJson), next_page_token: message.nextPageToken }, authenticatedHeaders(header));
  });

  router.add("GET", "/api/admin/users/{id}/", async (ex, params) => {
    const { message, header } = await call(ex, (o) => admin.getUser({ id: params.id ?? "" }, o));
    sendSuccess(ex, 200, "ok", { user: adminUserJson(message.user) }, authenticatedHeaders(header));
  });

  // Only the fields given change; `{}` changes nothing and answers the user.
  router.add("PATCH", "/api/admin/users/{id}/", async (ex, params) => {
    const body = await readJsonObject(ex, maxBodyBytes);
    onlyFields(body, USER_CHANGES);
    const f = fields(body, USER_CHANGES);
    const { message, header } = await call(ex, (o) => admin.updateUser({ id: params.id ?? "", isActive: f.is_active, isStaff: f.is_staff }, o));
    sendSuccess(ex, 200, "user_updated", { user: adminUserJson(message.user) }, authenticatedHeaders(header));
  });

  router.add("POST", "/api/admin/users/{id}/logout-all/", async (ex, params) => {
    const { message, header } = await call(ex, (o) => admin.revokeUserSessions({ id: params.id ?? "" }, o));
    sendSuccess(ex, 200, "user_sessions_revoked", { revoked: message.revoked }, authenticatedHeaders(header));
  });

  router.add("GET", "/api/admin/audit/", async (ex) => {
    const q = queryOf(ex);
    const request = { userId: q.text("user_id"), type: q.text("type"), since: q.instant("since"), pageSize: q.integer("page_size"), pageToken: q.text("page_token") };
    const { message, header } = await call(ex, (o) => admin.listAuditEvents(request, o));
    sendSuccess(ex, 200, "ok", { events: message.events.map(auditEventJson), next_page_token: message.nextPageToken }, authenticatedHeaders(header));
  });
}
