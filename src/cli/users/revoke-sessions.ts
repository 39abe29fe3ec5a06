/** `identity users revoke-sessions PHONE`: staff's RevokeUserSessions, by the system. */
import { revokeUserSessions } from "../../core/admin/revoke-sessions.js";
import type { Run } from "../commands.js";
import { withUserOfPhone } from "./target.js";

export const revokeSessionsCommand: Run = (args) =>
  withUserOfPhone(args, async (deps, user) => {
    const revoked = await revokeUserSessions(deps, { kind: "system" }, user.id, null);
    return `ended ${revoked} session${revoked === 1 ? "" : "s"} of ${user.phone}`;
  });
