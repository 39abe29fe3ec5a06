/**
 * The services, implemented once, and everything a transport needs to serve them:
 * the one surface src/grpc and bridge/ import from src/rpc.
 */
import type { CoreDeps } from "../core/deps.js";
import { ADMIN_METHODS } from "./admin-service.js";
import { AUTH_METHODS_WITH_CALLER } from "./auth-service.js";
import { authenticateCallers } from "./authenticate.js";
import { authorizeStaff } from "./authorize-staff.js";
import type { Interceptor } from "./interceptor.js";
import { logCalls } from "./observe.js";

export { createAdminService } from "./admin-service.js";
export { createAuthService } from "./auth-service.js";
export { createTokenService } from "./token-service.js";
export { clientCertificateKey, clientIpKey, clientUserAgentKey, localeOf, type CallContext, type Handler, type ServiceHandlers, type ServiceImplementation } from "./context.js";
export { intercept, type Interceptor } from "./interceptor.js";
export { StreamEnd } from "./stream-end.js";
export { rpcNames } from "./observe.js";
export { callerKey, callerOf } from "./authenticate.js";
export { ERROR_DOMAIN, GRPC_CODE_OF_REASON, grpcCodeName, rpcFailureOf, toPublicError, type PublicError, type RpcFailure } from "./errors.js";
export { messageOf, successMessage } from "./messages.js";
export { otpPurposeNamed } from "./otp-purpose.js";

/** What every transport runs around the services, outermost first: one log line
 * per call (which sees the caller and every refusal), then the caller's
 * authentication, and for the staff operations their authority. */
export function createInterceptors(deps: CoreDeps): Interceptor[] {
  return [logCalls(deps.log), authenticateCallers(deps, AUTH_METHODS_WITH_CALLER), authorizeStaff(deps, ADMIN_METHODS)];
}
