/**
 * The bridge, assembled: where its RPCs go (the service implementations in this
 * process, or a gRPC upstream), the `/api` routes, health, static files, the
 * Connect protocol, CORS, and one port for HTTP/1.1 and h2c.
 */
import { createClient, type Interceptor as ConnectInterceptor, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import type { Identity } from "../src/app.js";
import type { Config } from "../src/config.js";
import type { Readiness } from "../src/health.js";
import type { HttpLimits } from "../src/lib/http-limits.js";
import { ReloadableTls } from "../src/lib/tls.js";
import type { Interceptor, ServiceHandlers } from "../src/rpc/index.js";
import { AdminService } from "../gen/identity/v1/admin_pb.js";
import { AuthService } from "../gen/identity/v1/auth_pb.js";
import { TokenService } from "../gen/identity/v1/token_pb.js";
import { addAdminRoutes } from "./api/admin-routes.js";
import { addApiRoutes } from "./api/routes.js";
import { loadStaticFiles } from "./assets.js";
import { createRequestHandler, notFoundHandler, type RequestObserver } from "./handler.js";
import { addHealthRoutes, type ReadinessReport } from "./health.js";
import { DEFAULT_MAX_BODY_BYTES } from "./http/body.js";
import { createRequestIp } from "./http/client-ip.js";
import { createCors } from "./http/cors.js";
import { headerOf } from "./http/exchange.js";
import { listenHttp } from "./http/listen.js";
import { addStaticRoutes } from "./http/static.js";
import { createRouter } from "./http/router.js";
import { callValues } from "./rpc/call-values.js";
import { connectRoutes } from "./rpc/connect-services.js";
import { createGrpcUpstream } from "./rpc/grpc-upstream.js";
import { createInProcessTransport } from "./rpc/in-process-transport.js";
import { upstreamServing } from "./rpc/upstream-health.js";

/** The services the bridge answers for, over Connect and (through them) /api. */
const SERVICES = [AuthService, TokenService, AdminService] as const;

/** Where the bridge's RPCs go. */
export type Upstream =
  | {
      kind: "in-process";
      auth: ServiceHandlers<typeof AuthService>;
      token: ServiceHandlers<typeof TokenService>;
      admin: ServiceHandlers<typeof AdminService>;
      /** Run around every call, as the gRPC server runs them. */
      interceptors: readonly Interceptor[];
      readiness: Pick<Readiness, "ready" | "failing">;
    }
  | {
      kind: "grpc";
      baseUrl: string;
      /** Run around every call to the upstream (the trace's propagation, when tracing). */
      interceptors?: readonly ConnectInterceptor[];
      /** For an https:// baseUrl: the CA to verify it with, the certificate to present. */
      tls?: ReloadableTls;
    };

/** The service implementations of an identity built in this process (`createIdentity`). */
export function inProcess(identity: Pick<Identity, "auth" | "token" | "admin" | "interceptors" | "readiness">): Upstream {
  return { kind: "in-process", auth: identity.auth, token: identity.token, admin: identity.admin, interceptors: identity.interceptors, readiness: identity.readiness };
}

export interface BridgeOptions {
  config: Pick<Config, "host" | "httpPort" | "corsOrigins" | "trustedProxies" | "defaultLocale" | "tls">;
  log: Logger;
  upstream: Upstream;
  /** Largest request body accepted (413 past it). Default 64 KiB. */
  maxBodyBytes?: number;
  /** Header budget, HTTP/2 streams and time-outs (HTTP_LIMITS by default). */
  limits?: Partial<HttpLimits>;
  /** Around every request (metrics, traces), the first outermost. */
  observers?: readonly RequestObserver[];
  /** The certificate served (shared with the gRPC server in one process, so one
   * reload serves both); by default read from config.tls, if set. */
  tls?: ReloadableTls;
}

export interface RunningBridge {
  port: number;
  /** `http://host:port`, or `https://` over TLS */
  url: string;
  /** Stops taking requests, lets in-flight ones finish for up to `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

export async function startBridge(options: BridgeOptions): Promise<RunningBridge> {
  const { config, log, upstream } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  // The bridge serves browsers: it never asks them for a certificate (config.tls.ca is gRPC's).
  const tls = options.tls ?? (config.tls && new ReloadableTls({ cert: config.tls.cert, key: config.tls.key }));
  const { transport, readiness } = wireUpstream(upstream, config.defaultLocale);
  const clientIp = createRequestIp(config.trustedProxies);

  const router = createRouter();
  addApiRoutes(router, { auth: createClient(AuthService, transport), token: createClient(TokenService, transport) }, maxBodyBytes);
  addAdminRoutes(router, createClient(AdminService, transport), maxBodyBytes);
  addHealthRoutes(router, readiness);
  addStaticRoutes(router, await loadStaticFiles());

  const connect = connectNodeAdapter({
    routes: connectRoutes(SERVICES, transport, config.defaultLocale),
    readMaxBytes: maxBodyBytes,
    contextValues: (req) => callValues(clientIp(req), headerOf(req.headers, "user-agent")),
    fallback: notFoundHandler(config.defaultLocale, clientIp),
  });

  const listening = await listenHttp({
    host: config.host,
    port: config.httpPort,
    handler: createRequestHandler({
      router,
      connect,
      cors: createCors(config.corsOrigins),
      clientIp,
      defaultLocale: config.defaultLocale,
      log,
      connectPaths: new Set(SERVICES.flatMap((service) => service.methods.map((method) => `/${service.typeName}/${method.name}`))),
      observers: options.observers,
    }),
    limits: options.limits,
    tls,
  });
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  return { port: listening.port, url: `${tls ? "https" : "http"}://${host}:${listening.port}`, close: (graceMs) => listening.close(graceMs) };
}

function wireUpstream(upstream: Upstream, defaultLocale: Config["defaultLocale"]): { transport: Transport; readiness: () => Promise<ReadinessReport> } {
  if (upstream.kind === "grpc") {
    const transport = createGrpcUpstream(upstream.baseUrl, upstream.interceptors, upstream.tls);
    return { transport, readiness: async () => ({ ready: await upstreamServing(transport) }) };
  }
  const transport = createInProcessTransport(
    [
      { descriptor: AuthService, handlers: upstream.auth },
      { descriptor: TokenService, handlers: upstream.token },
      { descriptor: AdminService, handlers: upstream.admin },
    ],
    defaultLocale,
    upstream.interceptors,
  );
  return { transport, readiness: async () => ({ ready: upstream.readiness.ready, failing: upstream.readiness.failing }) };
}
