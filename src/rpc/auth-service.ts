import { AppError } from "../core/errors.js";
import type { CoreDeps } from "../core/deps.js";
import { sendOtp } from "../core/otp/send.js";
import type { OtpPurpose as Purpose } from "../core/otp/keys.js";
import { normalizePhone } from "../core/phone.js";
import { logout, logoutAll } from "../core/sessions/revoke.js";
import { login } from "../core/users/login.js";
import { getProfile, updateProfile } from "../core/users/profile.js";
import { register } from "../core/users/register.js";
import { OtpPurpose, type AuthService } from "../../gen/identity/v1/auth_pb.js";
import { requireCaller } from "./authenticate.js";
import type { ServiceHandlers } from "./context.js";
import { tokenPairMessage, userMessage } from "./convert.js";

const PURPOSES: Partial<Record<OtpPurpose, Purpose>> = {
  [OtpPurpose.REGISTER]: "register",
  [OtpPurpose.LOGIN]: "login",
};

function required(value: string, field: string): string {
  if (value === "") throw new AppError("validation_error", `${field} is required`, { field });
  return value;
}

export function createAuthService(deps: CoreDeps): ServiceHandlers<typeof AuthService> {
  const phonePolicy = { defaultRegion: deps.config.phoneDefaultRegion, allowedRegions: deps.config.phoneAllowedRegions };
  const phoneOf = (value: string) => normalizePhone(required(value, "phone"), phonePolicy);
  return {
    async sendOtp(request, ctx) {
      const purpose = PURPOSES[request.purpose];
      const phone = phoneOf(request.phone);
      if (purpose === undefined) throw new AppError("validation_error", "purpose must be register or login", { field: "purpose" });
      const result = await sendOtp(deps, phone, purpose, ctx.clientIp);
      return { expiresIn: result.expiresInSeconds, resendAfter: result.resendAfterSeconds, codeLength: result.codeLength };
    },

    async register(request, ctx) {
      const { user, tokens } = await register(deps, {
        phone: phoneOf(request.phone),
        code: required(request.code, "code"),
        firstName: request.firstName,
        lastName: request.lastName,
        clientIp: ctx.clientIp,
      });
      return { user: userMessage(user), tokens: tokenPairMessage(tokens) };
    },

    async login(request, ctx) {
      const { user, tokens } = await login(deps, { phone: phoneOf(request.phone), code: required(request.code, "code"), clientIp: ctx.clientIp });
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
