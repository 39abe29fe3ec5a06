/**
 * One log line per call (method, outcome, duration, user), as an interceptor that
 * every transport runs. Never logs requests or responses: they carry codes and tokens.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { UnavailableError } from "../core/errors.js";
import { callerKey } from "./authenticate.js";
import { clientCertificateKey, type CallContext } from "./context.js";
import { toPublicError } from "./errors.js";
import type { Interceptor } from "./interceptor.js";

/** `identity.v1.AuthService/Login` of each method, made once rather than on every call. */
export function rpcNames(): (method: DescMethod) => string {
  const names = new Map<DescMethod, string>();
  return (method) => names.get(method) ?? names.set(method, `${method.parent.typeName}/${method.name}`).get(method)!;
}

export function logCalls(log: Logger): Interceptor {
  const rpcOf = rpcNames();
  const userOf = (ctx: CallContext) => ctx.values.get(callerKey)?.user.id;
  // The caller's certificate subject only at debug: reading it costs the hot path.
  const withCertificate = <T extends object>(line: T, ctx: CallContext) => (log.isLevelEnabled("debug") ? { ...line, clientCert: ctx.values.get(clientCertificateKey) } : line);

  return (next) => async (request, ctx) => {
    const started = performance.now();
    try {
      const response = await next(request, ctx);
      if (log.isLevelEnabled("info")) {
        log.info(withCertificate({ rpc: rpcOf(ctx.method), outcome: "ok", ms: round(performance.now() - started), user: userOf(ctx) }, ctx), "rpc");
      }
      return response;
    } catch (error) {
      const e = toPublicError(error);
      const line = withCertificate({ rpc: rpcOf(ctx.method), outcome: e.reason, ms: round(performance.now() - started), user: userOf(ctx) }, ctx);
      if (e.unexpected) log.error({ ...line, err: error }, "rpc failed");
      // A store outage is explained once, when it begins and when it ends (src/store/watch.ts);
      // each call refused meanwhile is routine, and says only which store it needed.
      else log.info(error instanceof UnavailableError ? { ...line, dependency: error.dependency } : line, "rpc");
      throw error;
    }
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
