/** The grpc-js server: identity services, reflection and health, bound to HOST:GRPC_PORT. */
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { DescService } from "@bufbuild/protobuf";
import type { Readiness } from "../health.js";
import { addService, type AdapterOptions } from "./adapter.js";
import { addReflection } from "./reflection.js";

type Handler = (request: never, ctx: import("../rpc/context.js").CallContext) => Promise<unknown>;

export interface GrpcServerOptions extends AdapterOptions {
  host: string;
  port: number;
  services: readonly { descriptor: DescService; handlers: Record<string, Handler> }[];
  readiness: Readiness;
  maxMessageBytes: number;
}

export interface RunningGrpcServer {
  server: Server;
  port: number;
  /** Stops taking calls, lets in-flight calls finish (up to `graceMs`), then closes. */
  shutdown(graceMs: number): Promise<void>;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const server = new Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.keepalive_permit_without_calls": 1,
  });
  for (const { descriptor, handlers } of options.services) addService(server, descriptor, handlers, options);
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
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
  });

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
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
