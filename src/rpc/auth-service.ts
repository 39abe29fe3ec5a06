import type { CoreDeps } from "../core/deps.js";
import { sendOtp } from "../core/otp/send.js";
import { required } from "../core/required.js";
import { logout, logoutAll } from "../core/sessions/revoke.js";
import { login } from "../core/users/login.js";
import { getProfile, updateProfile } from "../core/users/profile.js";
import { register } from "../core/users/register.js";
import type { AuthService } from "../../gen/identity/v1/auth_pb.js";
import { requireCaller } from "./authenticate.js";
import { localeOf, type ServiceHandlers } from "./context.js";
import { tokenPairMessage, userMessage } from "./convert.js";
import { purposeName } from "./otp-purpose.js";

export function createAuthService(deps: CoreDeps): ServiceHandlers<typeof AuthService> {
  return {
    async sendOtp(request, ctx) {
      const result = await sendOtp(deps, {
        phone: request.phone,
        purpose: purposeName(request.purpose),
        clientIp: ctx.clientIp,
        locale: localeOf(ctx.header("accept-language"), deps.config.defaultLocale),
      });
      return { expiresIn: result.expiresInSeconds, resendAfter: result.resendAfterSeconds, codeLength: result.codeLength };
    },

    async register(request) {
      const { user, tokens } = await register(deps, {
        phone: request.phone,
        code: request.code,
        firstName: request.firstName,
        lastName: request.lastName,
      });
      return { user: userMessage(user), tokens: tokenPairMessage(tokens) };
    },

    async login(request) {
      const { user, tokens } = await login(deps, { phone: request.phone, code: request.code });
      return { user: userMessage(user), tokens: tokenPairMessage(tokens) };
    },

    async logout(request) {
      await logout(deps, required(request.refresh, "refresh"));
      return {};
    },

    async logoutAll(_request, ctx) {
      const caller = await requireCaller(deps, ctx);
      return { revoked: await logoutAll(deps, caller) };
    },

    async getProfile(_request, ctx) {
      const caller = await requireCaller(deps, ctx);
      return { user: userMessage(await getProfile(deps, caller)) };
    },

    async updateProfile(request, ctx) {
      const caller = await requireCaller(deps, ctx);
      const user = await updateProfile(deps, caller, { firstName: request.firstName, lastName: request.lastName });
      return { user: userMessage(user) };
    },
  };
}
