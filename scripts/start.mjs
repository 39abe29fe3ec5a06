/**
 * `npm start`: runs the service from one esbuild bundle of src/main.ts
 * (dist/server/main.mjs), rebuilt first whenever a source is newer than it.
 * `--build` only builds (part of `npm run build`).
 *
 * Why not tsx: transpiling ~150 modules at every start cost about a second of CPU,
 * half the start-up budget, and resolving the dependencies' files one by one another
 * ~0.45 s. The bundle holds both (but PGlite, grpc-health-check and the reflection
 * service, which read files beside their own code) and takes well under a second to
 * rebuild. Old chunks are left behind by a rebuild (their names are content hashes;
 * a running process may still need them); they are small. Plain JavaScript, so that nothing has to be compiled to run it.
 */
import { copyFile, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT_DIR = join(ROOT, "dist", "server");
const BUNDLE = join(OUT_DIR, "main.mjs");
const MIGRATIONS = join(ROOT, "src", "store", "postgres", "migrations");
const SOURCES = ["src", "bridge", "gen"];

/** The newest modification time under `dir` (sources only, never build output). */
async function newestMs(dir) {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === "dist" || entry.name === "node_modules") continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? await newestMs(path) : (await stat(path)).mtimeMs);
  }
  return newest;
}

async function bundleMtimeMs() {
  return stat(BUNDLE).then((s) => s.mtimeMs, () => 0);
}

async function build() {
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch {
    return false; // production install without devDependencies: run what was built
  }
  await mkdir(join(OUT_DIR, "migrations"), { recursive: true });
  // Built beside, then moved in: workers or parallel starts may build at once.
  const temp = join(OUT_DIR, `.build-${process.pid}`);
  await esbuild.build({
    entryPoints: { main: join(ROOT, "src", "main.ts") },
    outdir: temp,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    // Dynamic imports stay lazy chunks (ioredis and pg load only when configured).
    splitting: true,
    // Dependencies are bundled too (Node's loader resolving a few hundred files was
    // ~0.45 s of a one-core start), except those that read files beside their own
    // code at run time, and optional natives.
    external: ["@electric-sql/pglite", "grpc-health-check", "@grpc/reflection", "@grpc/proto-loader", "protobufjs", "esbuild", "pg-native"],
    // CommonJS dependencies call require() for Node's built-ins.
    banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
    platform: "node",
    format: "esm",
    target: "node20",
    // No source maps: reading them costs ~0.15 s at start, and the bundle is not
    // minified, so stacks still name the functions and esbuild marks each source file.
    logLevel: "warning",
  });
  for (const name of await readdir(MIGRATIONS)) await copyFile(join(MIGRATIONS, name), join(OUT_DIR, "migrations", name));
  // Chunks first, the entry last: a start that sees the new entry sees its chunks.
  const files = (await readdir(temp)).sort((a, b) => Number(a === "main.mjs") - Number(b === "main.mjs"));
  for (const name of files) await rename(join(temp, name), join(OUT_DIR, name));
  await rm(temp, { recursive: true, force: true });
  return true;
}

if (process.argv.includes("--build")) {
  // `npm run build`: the bundle for an image, made where devDependencies are.
  if (!(await build())) throw new Error("esbuild is not installed");
  process.exit(0);
}

// Sources, and the lockfile: dependencies are bundled, so an update must rebuild.
const lockfileMs = stat(join(ROOT, "package-lock.json")).then((s) => s.mtimeMs, () => 0);
const [sourcesMs, builtMs] = await Promise.all([Promise.all([...SOURCES.map((d) => newestMs(join(ROOT, d))), lockfileMs]).then((t) => Math.max(...t)), bundleMtimeMs()]);
if (builtMs < sourcesMs && !(await build()) && builtMs === 0) {
  process.stderr.write("identity: cannot start: dist/server/main.mjs is missing and esbuild is not installed (run `npm run build` where devDependencies are)\n");
  process.exit(1);
}
await import(pathToFileURL(BUNDLE).href);
