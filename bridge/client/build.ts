/**
 * Builds the browser files the bridge serves under /static/js/ with esbuild:
 * `jwt-client.js` (plain script, sets window.jwtClient), `jwt-client.mjs` (ES
 * module), `demo.js` (the demo page), and, from the CLI, `jwt-client.d.ts`.
 *
 * `npm run build:client` (build-cli.ts; also run by `npm install`, as `prepare`)
 * writes them to bridge/dist/static/js/; the bridge rebuilds them at start when they
 * are missing or older than their sources, so a checkout never serves a stale client.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BRIDGE_DIR, STATIC_JS_DIR } from "../paths.js";

const SOURCE_DIRS = [join(BRIDGE_DIR, "client"), join(BRIDGE_DIR, "demo")];
/** The service's and the bridge's files that the demo bundles: the reasons and their
 * messages, so the page can say them in either language. */
const SHARED_SOURCES = [
  join(BRIDGE_DIR, "..", "src", "rpc", "messages.ts"),
  join(BRIDGE_DIR, "..", "src", "core", "errors.ts"),
  join(BRIDGE_DIR, "http", "reasons.ts"),
];

interface Bundle {
  entry: string;
  file: string;
  format: "iife" | "esm";
}

const BUNDLES: readonly Bundle[] = [
  { entry: "client/global.ts", file: "jwt-client.js", format: "iife" },
  { entry: "client/jwt-client.ts", file: "jwt-client.mjs", format: "esm" },
  { entry: "demo/demo.ts", file: "demo.js", format: "iife" },
];

/** Bundles every file in memory: file name → code. */
export async function bundleClient(): Promise<Map<string, string>> {
  // Imported here so the server loads esbuild only when it has to build.
  const { build } = await import("esbuild");
  const out = new Map<string, string>();
  await Promise.all(
    BUNDLES.map(async (bundle) => {
      const result = await build({
        entryPoints: [join(BRIDGE_DIR, bundle.entry)],
        bundle: true,
        format: bundle.format,
        target: ["es2020"],
        platform: "browser",
        write: false,
        legalComments: "none",
        banner: { js: "/* identity service browser client: see /static/js/jwt-client.d.ts for its API */" },
        logLevel: "silent",
      });
      out.set(bundle.file, result.outputFiles[0]!.text);
    }),
  );
  return out;
}

/** Writes each file atomically (parallel test workers may build at once). */
export async function writeFiles(files: ReadonlyMap<string, string>, dir = STATIC_JS_DIR): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of files) {
    const temp = join(dir, `.${name}.${process.pid}.tmp`);
    await writeFile(temp, text);
    await rename(temp, join(dir, name));
  }
}

/** The newest modification time of the client and demo sources. */
async function newestSourceMs(): Promise<number> {
  const files = [...SHARED_SOURCES];
  for (const dir of SOURCE_DIRS) {
    for (const name of await readdir(dir)) if (name.endsWith(".ts")) files.push(join(dir, name));
  }
  let newest = 0;
  for (const file of files) newest = Math.max(newest, (await stat(file)).mtimeMs);
  return newest;
}

/** The built files, built first when any is missing or older than the sources. */
export async function loadClientFiles(): Promise<Map<string, string>> {
  const newest = await newestSourceMs();
  const files = new Map<string, string>();
  try {
    for (const { file } of BUNDLES) {
      const path = join(STATIC_JS_DIR, file);
      if ((await stat(path)).mtimeMs < newest) throw new Error("stale");
      files.set(file, await readFile(path, "utf8"));
    }
    return files;
  } catch {
    const built = await bundleClient();
    // Serve from memory even where the tree is read-only.
    await writeFiles(built).catch(() => undefined);
    return built;
  }
}
