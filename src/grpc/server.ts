/** The grpc-js server: identity services, reflection and health, bound to HOST:GRPC_PORT. */
import type { Http2Server, OutgoingHttpHeaders } from "node:http2";
import { Server, ServerCredentials, experimental, status as Status } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Readiness } from "../health.js";
import { HTTP_LIMITS, limitHttp2Streams, type HttpLimits } from "../lib/http-limits.js";
import type { ReloadableTls, TlsMaterial } from "../lib/tls.js";
import type { ServiceImplementation } from "../rpc/index.js";
import { addService, type AdapterOptions } from "./adapter.js";
import { OpenStreams } from "./open-streams.js";
import { addReflection } from "./reflection.js";

export interface GrpcServerOptions extends AdapterOptions {
  host: string;
  port: number;
  services: readonly ServiceImplementation[];
  readiness: Readiness;
  maxMessageBytes: number;
  /** Header budget, HTTP/2 streams and time-outs (HTTP_LIMITS by default). */
  limits?: Partial<HttpLimits>;
  /** TLS only, with this certificate (and its CA: callers must present a certificate
   * from it), taking each reload for new connections; absent, plaintext. */
  tls?: ReloadableTls;
}

export interface RunningGrpcServer {
  server: Server;
  port: number;
  /** Stops taking calls, ends open server streams (UNAVAILABLE: their clients
   * reconnect elsewhere), lets in-flight calls finish (up to `graceMs`), then closes. */
  shutdown(graceMs: number): Promise<void>;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const limits: HttpLimits = { ...HTTP_LIMITS, ...options.limits };
  const server = new Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
    // Counted from the last open stream, as HTTP/1.1's keep-alive time-out is.
    "grpc.max_connection_idle_ms": limits.idleTimeoutMs,
    // No connection age limit: a healthy long server stream must not be cut, and
    // stalled requests are ended one by one (limitHttp2Streams).
  });
  const streams = new OpenStreams();
  for (const { descriptor, handlers } of options.services) addService(server, descriptor, handlers, { ...options, streams });
  addReflection(server, options.services.map((s) => s.descriptor));

  const names = ["", ...options.services.map((s) => s.descriptor.typeName)];
  const health = new HealthImplementation();
  const publish = (ready: boolean) => {
    for (const name of names) health.setStatus(name, ready ? "SERVING" : "NOT_SERVING");
  };
  publish(options.readiness.ready);
  options.readiness.onChange(publish);
  health.addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    const address = options.host.includes(":") ? `[${options.host}]:${options.port}` : `${options.host}:${options.port}`;
    server.bindAsync(address, credentialsOf(options.tls), (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
  });
  // Attached before the port is handed out; after grpc-js's own listener, which
  // must see every stream first (it answers some itself).
  const limitStreams = limitHttp2Streams(limits, {
    headersTooLarge: grpcRefusal(Status.RESOURCE_EXHAUSTED, `request metadata over ${limits.maxHeaderBytes} bytes`),
    stalled: grpcRefusal(Status.DEADLINE_EXCEEDED, "the request did not arrive in time"),
  });
  for (const http2Server of http2ServersOf(server)) http2Server.on("stream", limitStreams);

  return {
    server,
    port,
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        // A stream lasts as long as its client wants: waiting for one would only run
        // the grace out. tryShutdown first, so that no new one starts.
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
        streams.endAll(Status.UNAVAILABLE, "the service is shutting down; reconnect");
      }),
  };
}

/**
 * grpc-js's certificate-provider credentials: it calls the HTTP/2 server's
 * setSecureContext on each update, so new connections get the new certificate while
 * open ones keep theirs. The material was checked before it got here, which matters:
 * a context grpc-js fails to set makes it drop every new connection.
 */
function credentialsOf(tls: ReloadableTls | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  const mutual = tls.material.ca !== undefined;
  // Despite its parameter names, grpc-js takes the identity provider first, then the CA's.
  return experimental.createCertificateProviderServerCredentials(certificateProvider(tls), mutual ? certificateProvider(tls) : null, mutual);
}

/** A provider over the reloadable files: each listener gets the material in use
 * (grpc-js serves nothing until it has), then every reload's. */
function certificateProvider(tls: ReloadableTls): experimental.CertificateProvider {
  const stops = new Map<object, () => void>();
  const add = <U>(listener: (update: U) => void, updateOf: (material: TlsMaterial) => U) => {
    // Not at once: grpc-js registers the listeners before the server's own watcher,
    // which would miss an update given during registration.
    process.nextTick(() => stops.has(listener) && listener(updateOf(tls.material)));
    stops.set(listener, tls.subscribe((material) => listener(updateOf(material))));
  };
  const remove = (listener: object) => {
    stops.get(listener)?.();
    stops.delete(listener);
  };
  return {
    addCaCertificateListener: (listener) => add(listener, (material) => ({ caCertificate: material.ca! })),
    removeCaCertificateListener: remove,
    addIdentityCertificateListener: (listener) => add(listener, (material) => ({ certificate: material.cert!, privateKey: material.key! })),
    removeIdentityCertificateListener: remove,
  };
}

/** A trailers-only gRPC answer, for refusals made before grpc-js handles the call. */
function grpcRefusal(code: Status, message: string): OutgoingHttpHeaders {
  return { ":status": 200, "content-type": "application/grpc+proto", "grpc-status": String(code), "grpc-message": encodeURIComponent(message) };
}

/**
 * grpc-js's HTTP/2 servers. grpc-js has no hook on its streams and the limits need
 * one (refusing large metadata, ending stalled requests, resetting after an early
 * answer), so its private `http2Servers` map is read; a change of shape fails
 * startup rather than leaving the port without limits.
 */
function http2ServersOf(server: Server): Http2Server[] {
  const servers: unknown = Reflect.get(server, "http2Servers");
  const keys = servers instanceof Map ? [...servers.keys()] : [];
  if (keys.length === 0 || !keys.every((key) => typeof key === "object" && key !== null && "on" in key)) {
    throw new Error("@grpc/grpc-js: its HTTP/2 servers are out of reach, so the HTTP/2 limits cannot be held");
  }
  return keys as Http2Server[];
}
