import { ConfigError } from "../config.js";
import { InstanceLockError } from "../store/instance-lock.js";

/** Runs a CLI command: exit 0 on success, one clear line and exit 1 on a known problem. */
export function runCli(command: () => Promise<void>): void {
  command().then(
    () => process.exit(0),
    (error: unknown) => {
      const known = error instanceof ConfigError || error instanceof InstanceLockError;
      process.stderr.write(`identity: ${known || !(error instanceof Error) ? String(error instanceof Error ? error.message : error) : (error.stack ?? error.message)}\n`);
      process.exit(1);
    },
  );
}
