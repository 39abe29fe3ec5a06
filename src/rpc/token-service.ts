import { Code } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CoreDeps } from "../core/deps.js";
import { FeedFellBehind, watchRevocations, type FeedEvent, type RevocationFeed } from "../core/revocations/watch.js";
import { required } from "../core/required.js";
import { refreshSession } from "../core/sessions/refresh.js";
import { verifyAccess } from "../core/tokens/authenticate.js";
import { introspect } from "../core/tokens/introspect.js";
import { publishedJwks } from "../core/tokens/keys.js";
import { RevocationKind, type RevocationEventSchema, type TokenService } from "../../gen/identity/v1/token_pb.js";
import { clientOf, type ServiceHandlers } from "./context.js";
import { jwkMessage, timestamp, tokenPairMessage, verifyResponseMessage } from "./convert.js";
import { mapStream } from "../lib/map-stream.js";
import { StreamEnd } from "./stream-end.js";

/** The trailer that tells a consumer that fell behind where to resume. */
export const RESUME_CURSOR_TRAILER = "x-resume-cursor";

const KIND_OF: Readonly<Record<FeedEvent["kind"], RevocationKind>> = {
  session: RevocationKind.SESSION,
  user_before: RevocationKind.USER_BEFORE,
  heartbeat: RevocationKind.HEARTBEAT,
};

function revocationEventMessage(event: FeedEvent): MessageInitShape<typeof RevocationEventSchema> {
  return {
    cursor: event.cursor,
    kind: KIND_OF[event.kind],
    sessionId: event.sessionId ?? "",
    userId: event.userId ?? "",
    revokedBefore: event.revokedBefore === null ? undefined : timestamp(event.revokedBefore),
    at: timestamp(event.at),
  };
}

/** Falling behind ends the stream with RESOURCE_EXHAUSTED and the cursor to resume
 * from in a trailer. */
function streamEndOf(error: unknown): unknown {
  if (!(error instanceof FeedFellBehind)) return error;
  return new StreamEnd(Code.ResourceExhausted, "consumer fell behind; resume from your last cursor", { [RESUME_CURSOR_TRAILER]: error.resumeCursor });
}

export function createTokenService(deps: CoreDeps, feed: RevocationFeed): ServiceHandlers<typeof TokenService> {
  const jwks = publishedJwks(deps.keys).keys.map(jwkMessage);

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

    async watchRevocations(request, ctx) {
      // Any service key will do, as for Introspect; checked before anything is read.
      deps.serviceKeys(ctx.header("x-api-key"));
      return mapStream(await watchRevocations({ ...deps, feed }, request.cursor), revocationEventMessage, streamEndOf);
    },
  };
}
