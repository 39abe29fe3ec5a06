/** The `identity` command (bin/identity.mjs runs this). */
import { runCli } from "./run.js";

process.exit(await runCli(process.argv.slice(2)));
