import { AppError } from "../core/errors.js";
import type { CoreDeps } from "../core/deps.js";
import { refreshSession } from "../core/sessions/refresh.js";
import { authenticateAccess } from "../core/tokens/authenticate.js";
import { introspect } from "../core/tokens/introspect.js";
import type { TokenService } from "../../gen/identity/v1/token_pb.js";
import { createServiceKeyCheck } from "./authenticate.js";
import type { ServiceHandlers } from "./context.js";
import { claimsUserMessage, timestamp, tokenPairMessage } from "./convert.js";

export function createTokenService(deps: CoreDeps): ServiceHandlers<typeof TokenService> {
  const checkServiceKey = createServiceKeyCheck(deps.config.serviceApiKeys, deps.log);
  const jwks = deps.keys.jwks.map((k) => ({
    kty: k.kty ?? "", kid: k.kid, use: k.use, alg: k.alg, crv: k.crv ?? "", x: k.x ?? "", y: k.y ?? "", n: k.n ?? "", e: k.e ?? "",
  }));

  return {
    async refresh(request) {
      if (request.refresh === "") throw new AppError("validation_error", "refresh is required", { field: "refresh" });
      return { tokens: tokenPairMessage(await refreshSession(deps, request.refresh)) };
    },

    /** A bad token is an answer; only a store failure is an error (fail closed). */
    async verify(request) {
      try {
        const caller = await authenticateAccess(deps, request.token);
        return { valid: true, tokenType: "access", expiresAt: timestamp(caller.expiresAt), user: claimsUserMessage(caller.user) };
      } catch (error) {
        if (error instanceof AppError) return { valid: false, reason: error.reason };
        throw error;
      }
    },

    async introspect(request, ctx) {
      checkServiceKey(ctx);
      const result = await introspect(deps, request.token, request.tokenTypeHint);
      if (!result.active) return { active: false };
      const { claims } = result;
      return {
        active: true,
        sub: claims.sub,
        exp: BigInt(claims.exp),
        iat: BigInt(claims.iat),
        jti: claims.jti,
        tokenType: claims.token_type,
        iss: claims.iss ?? "",
        aud: Array.isArray(claims.aud) ? claims.aud.join(" ") : (claims.aud ?? ""),
        username: claims.phone,
        sid: claims.sid,
      };
    },

    async getJwks() {
      return { keys: jwks };
    },
  };
}
