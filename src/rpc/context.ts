/**
 * What a service implementation sees of a call, whatever carried it (grpc-js, the
 * Connect protocol, or the bridge's in-process transport). Transports build it;
 * implementations never touch transport objects.
 */
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { Locale } from "../config.js";

export interface CallContext {
  /** A request header / metadata value by lower-case name. */
  header(name: string): string | undefined;
  /** The client's address: the peer, or what a trusted proxy said it was. */
  readonly clientIp: string;
  /** Adds a response header / metadata entry. */
  setResponseHeader(name: string, value: string): void;
  /** Set once the caller is authenticated (for logs). */
  userId?: string;
}

type UnaryHandler<I extends DescMessage, O extends DescMessage> = (request: MessageShape<I>, ctx: CallContext) => Promise<MessageInitShape<O>>;

/** A service implemented once, as plain async functions typed by its descriptor. */
export type ServiceHandlers<S> =
  S extends GenService<infer M extends GenServiceMethods> ? { [K in keyof M]: UnaryHandler<M[K]["input"], M[K]["output"]> } : never;

/** Picks the response language from `accept-language` (fa or en). */
export function localeOf(acceptLanguage: string | undefined, fallback: Locale): Locale {
  if (acceptLanguage === undefined) return fallback;
  for (const part of acceptLanguage.split(",")) {
    const tag = part.trim().slice(0, 2).toLowerCase();
    if (tag === "en" || tag === "fa") return tag;
  }
  return fallback;
}
