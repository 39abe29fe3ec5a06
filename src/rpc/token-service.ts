import type { CoreDeps } from "../core/deps.js";
import { required } from "../core/required.js";
import { refreshSession } from "../core/sessions/refresh.js";
import { verifyAccess } from "../core/tokens/authenticate.js";
import { introspect } from "../core/tokens/introspect.js";
import { PUBLISHED_JWK_MEMBERS, publishedJwks } from "../core/tokens/keys.js";
import type { TokenService } from "../../gen/identity/v1/token_pb.js";
import { clientOf, type ServiceHandlers } from "./context.js";
import { tokenPairMessage, verifyResponseMessage } from "./convert.js";

export function createTokenService(deps: CoreDeps): ServiceHandlers<typeof TokenService> {
  // A member the key's type lacks is "" in the message (the bridge leaves it out again).
  const jwks = publishedJwks(deps.keys).keys.map((k) => Object.fromEntries(PUBLISHED_JWK_MEMBERS.map((member) => [member, k[member] ?? ""])));

  return {
    async refresh(request, ctx) {
      return { tokens: tokenPairMessage(await refreshSession(deps, required(request.refresh, "refresh"), clientOf(ctx))) };
    },

    async verify(request) {
      return verifyResponseMessage(await verifyAccess(deps, request.token));
    },

    async introspect(request, ctx) {
      const result = await introspect(deps, { token: request.token, hint: request.tokenTypeHint, serviceKey: ctx.header("x-api-key") });
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
