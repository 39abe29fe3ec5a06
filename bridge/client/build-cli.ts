/**
 * `npm run build:client` (and `prepare`): the browser files, plus `jwt-client.d.ts`
 * from the TypeScript source by tsc. A file of its own, so that bundling the server
 * can never mistake the server for this command.
 */
import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BRIDGE_DIR, STATIC_JS_DIR } from "../paths.js";
import { bundleClient, writeFiles } from "./build.js";

async function writeDeclarations(): Promise<void> {
  const temp = join(BRIDGE_DIR, "dist", ".types");
  await rm(temp, { recursive: true, force: true });
  const tsc = join(BRIDGE_DIR, "..", "node_modules", ".bin", "tsc");
  await promisify(execFile)(tsc, [
    "--ignoreConfig", "--declaration", "--emitDeclarationOnly", "--skipLibCheck", "--strict",
    "--target", "ES2022", "--module", "ESNext", "--moduleResolution", "Bundler", "--lib", "ES2022,DOM",
    "--types", "", "--outDir", temp, join(BRIDGE_DIR, "client", "jwt-client.ts"),
  ]);
  await writeFiles(new Map([["jwt-client.d.ts", await readFile(join(temp, "jwt-client.d.ts"), "utf8")]]));
  await rm(temp, { recursive: true, force: true });
}

const started = performance.now();
await writeFiles(await bundleClient());
await writeDeclarations();
process.stdout.write(`browser client built in ${Math.round(performance.now() - started)} ms → ${STATIC_JS_DIR}\n`);
