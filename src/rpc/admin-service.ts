import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { getUser } from "../core/admin/get-user.js";
import { listAuditEvents } from "../core/admin/list-audit.js";
import { listUsers } from "../core/admin/list-users.js";
import { revokeUserSessions } from "../core/admin/revoke-sessions.js";
import { updateUser } from "../core/admin/update-user.js";
import type { CoreDeps } from "../core/deps.js";
import { AdminService } from "../../gen/identity/v1/admin_pb.js";
import { actorOf } from "./authorize-staff.js";
import { clientOf, type ServiceHandlers } from "./context.js";
import { adminUserMessage, auditEventMessage } from "./convert.js";

/** Every method is for staff: the staff interceptor authorizes each call first. */
export const ADMIN_METHODS = AdminService.methods;

/** google.protobuf.Timestamp's range (years 1 to 9999). */
const MIN_SECONDS = -62_135_596_800n;
const MAX_SECONDS = 253_402_300_799n;

/** A Timestamp's instant; one outside the type's range is no instant (Invalid Date). */
function instantOf(timestamp: Timestamp | undefined): Date | undefined {
  if (timestamp === undefined) return undefined;
  const { seconds, nanos } = timestamp;
  const valid = seconds >= MIN_SECONDS && seconds <= MAX_SECONDS && nanos >= 0 && nanos <= 999_999_999;
  return valid ? timestampDate(timestamp) : new Date(Number.NaN);
}

export function createAdminService(deps: CoreDeps): ServiceHandlers<typeof AdminService> {
  return {
    async listUsers(request) {
      const listing = await listUsers(deps, { query: request.query, phone: request.phone, pageSize: request.pageSize, pageToken: request.pageToken });
      return { users: listing.users.map(adminUserMessage), nextPageToken: listing.nextPageToken };
    },

    async getUser(request) {
      return { user: adminUserMessage(await getUser(deps, request.id)) };
    },

    async updateUser(request, ctx) {
      const view = await updateUser(deps, actorOf(ctx), request.id, { isActive: request.isActive, isStaff: request.isStaff }, clientOf(ctx));
      return { user: adminUserMessage(view) };
    },

    async revokeUserSessions(request, ctx) {
      return { revoked: await revokeUserSessions(deps, actorOf(ctx), request.id, clientOf(ctx)) };
    },

    async listAuditEvents(request) {
      const listing = await listAuditEvents(deps, {
        userId: request.userId,
        type: request.type,
        since: instantOf(request.since),
        pageSize: request.pageSize,
        pageToken: request.pageToken,
      });
      return { events: listing.events.map(auditEventMessage), nextPageToken: listing.nextPageToken };
    },
  };
}
