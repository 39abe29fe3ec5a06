/**
 * One log line per call (method, outcome, duration, user), written once for every
 * transport by wrapping the handlers. Never logs requests or responses: they carry
 * codes and tokens.
 */
import type { DescService } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import type { CallContext } from "./context.js";
import { toPublicError } from "./errors.js";

type AnyHandler = (request: never, ctx: CallContext) => Promise<unknown>;

export function observe<H extends Record<string, AnyHandler>>(service: DescService, handlers: H, log: Logger): H {
  const wrapped: Record<string, AnyHandler> = {};
  for (const method of service.methods) {
    const handler = handlers[method.localName];
    if (handler === undefined) continue;
    const rpc = `${service.typeName}/${method.name}`;
    wrapped[method.localName] = async (request: never, ctx: CallContext) => {
      const started = performance.now();
      try {
        const response = await handler(request, ctx);
        if (log.isLevelEnabled("info")) {
          log.info({ rpc, outcome: "ok", ms: round(performance.now() - started), user: ctx.userId }, "rpc");
        }
        return response;
      } catch (error) {
        const e = toPublicError(error);
        const line = { rpc, outcome: e.reason, ms: round(performance.now() - started), user: ctx.userId };
        if (e.unexpected) log.error({ ...line, err: error }, "rpc failed");
        else if (e.reason === "service_unavailable") log.warn({ ...line, cause: error instanceof Error ? error.message : undefined }, "rpc");
        else log.info(line, "rpc");
        throw error;
      }
    };
  }
  return wrapped as H;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
