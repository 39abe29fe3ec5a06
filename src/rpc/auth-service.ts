import { listActivity } from "../core/audit/activity.js";
import type { CoreDeps } from "../core/deps.js";
import { sendOtp } from "../core/otp/send.js";
import { required } from "../core/required.js";
import { listSessions } from "../core/sessions/list.js";
import { logout, logoutAll, logoutOthers, revokeSession } from "../core/sessions/revoke.js";
import { login } from "../core/users/login.js";
import { getProfile, updateProfile } from "../core/users/profile.js";
import { register } from "../core/users/register.js";
import { AuthService } from "../../gen/identity/v1/auth_pb.js";
import { callerOf } from "./authenticate.js";
import { clientOf, localeOf, type ServiceHandlers } from "./context.js";
import { auditEventMessage, sessionMessage, tokenPairMessage, userMessage } from "./convert.js";
import { purposeName } from "./otp-purpose.js";

/** The methods served only to an authenticated caller: the authentication
 * interceptor checks their Bearer token before the handler runs. */
export const AUTH_METHODS_WITH_CALLER = [
  AuthService.method.logoutAll,
  AuthService.method.getProfile,
  AuthService.method.updateProfile,
  AuthService.method.listSessions,
  AuthService.method.revokeSession,
  AuthService.method.logoutOthers,
  AuthService.method.listActivity,
];

export function createAuthService(deps: CoreDeps): ServiceHandlers<typeof AuthService> {
  return {
    async sendOtp(request, ctx) {
      const result = await sendOtp(deps, {
        phone: request.phone,
        purpose: purposeName(request.purpose),
        client: clientOf(ctx),
        locale: localeOf(ctx.header("accept-language"), deps.config.defaultLocale),
      });
      return { expiresIn: result.expiresInSeconds, resendAfter: result.resendAfterSeconds, codeLength: result.codeLength };
    },

    async register(request, ctx) {
      const { user, tokens } = await register(deps, {
        phone: request.phone,
        code: request.code,
        firstName: request.firstName,
        lastName: request.lastName,
        client: clientOf(ctx),
      });
      return { user: userMessage(user), tokens: tokenPairMessage(tokens) };
    },

    async login(request, ctx) {
      const { user, tokens } = await login(deps, { phone: request.phone, code: request.code, client: clientOf(ctx) });
      return { user: userMessage(user), tokens: tokenPairMessage(tokens) };
    },

    async logout(request, ctx) {
      await logout(deps, required(request.refresh, "refresh"), clientOf(ctx));
      return {};
    },

    async logoutAll(_request, ctx) {
      return { revoked: await logoutAll(deps, callerOf(ctx), clientOf(ctx)) };
    },

    async getProfile(_request, ctx) {
      return { user: userMessage(await getProfile(deps, callerOf(ctx))) };
    },

    async updateProfile(request, ctx) {
      const user = await updateProfile(deps, callerOf(ctx), { firstName: request.firstName, lastName: request.lastName }, clientOf(ctx));
      return { user: userMessage(user) };
    },

    async listSessions(_request, ctx) {
      return { sessions: (await listSessions(deps, callerOf(ctx))).map(sessionMessage) };
    },

    async revokeSession(request, ctx) {
      await revokeSession(deps, callerOf(ctx), request.sessionId, clientOf(ctx));
      return {};
    },

    async logoutOthers(_request, ctx) {
      return { revoked: await logoutOthers(deps, callerOf(ctx), clientOf(ctx)) };
    },

    async listActivity(_request, ctx) {
      return { events: (await listActivity(deps, callerOf(ctx))).map(auditEventMessage) };
    },
  };
}
