/** `npm start`: configuration from the environment, servers up, drain on signals. */
import { ConfigError, loadConfig } from "./config.js";
import { createLogger, startGrpcApp } from "./app.js";
import { KeyError } from "./core/tokens/keys.js";
import { InstanceLockError } from "./store/instance-lock.js";

async function main(): Promise<void> {
  const started = performance.now();
  const config = loadConfig();
  const log = createLogger(config);
  const app = await startGrpcApp(config, { logger: log });
  log.info(
    { grpc: `${config.host}:${app.grpc.port}`, database: app.db.kind, cache: config.redisUrl || config.redisClusterNodes ? "redis" : "in-process", startupMs: Math.round(performance.now() - started) },
    `identity gRPC listening on ${config.host}:${app.grpc.port}`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining in-flight calls");
    app.shutdown(10_000).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((error: unknown) => {
  // Configuration problems are one clear line; anything else is a bug worth a stack.
  if (error instanceof ConfigError || error instanceof KeyError || error instanceof InstanceLockError) {
    process.stderr.write(`identity: cannot start: ${error.message}\n`);
  } else {
    process.stderr.write(`identity: cannot start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(1);
});
