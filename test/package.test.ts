/**
 * The npm package as another project gets it: `npm pack` (prepack builds dist/),
 * the tarball installed into a new project, then the README's "For TypeScript
 * backends" usage run by node as ESM and type-checked by tsc against the shipped
 * .d.ts, and its `identity` command run by npx from the compiled code. The service
 * runs beside it on the same PostgreSQL, Redis and DATA_DIR (its development key),
 * as a deployment would.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshStores, registerUser, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";

const run = promisify(execFile);
const API_KEY = "package-suite-key-0123456789abcdef";
const ROOT = process.cwd();

/** What the README shows, as a consumer's ESM script: both exports, called for real. */
const SCRIPT = `
import { openIdentity, createIdentityClient, createLocalVerifier } from "identity-service";

const identity = await openIdentity({ extraClaims: (user) => ({ tenant: "acme" }) });
try {
  const tokens = await identity.createTokensForUser({ id: process.env.USER_ID });
  const local = await identity.verifyToken(tokens.access);
  const client = createIdentityClient({ baseUrl: process.env.GRPC_URL });
  const remote = await client.verify(tokens.access);
  const verifier = createLocalVerifier({ baseUrl: process.env.GRPC_URL, apiKey: process.env.API_KEY });
  const verified = await verifier.verify(tokens.access);
  await verifier.close();
  const refused = await identity.createTokensForUser({ id: "not-a-uuid" }).catch((error) => error);
  console.log(JSON.stringify({
    resolved: import.meta.resolve("identity-service"),
    local: local.valid ? { valid: true, id: local.user.id, tenant: local.claims.tenant } : local,
    remote: { valid: remote.valid, id: remote.user?.id },
    verifier: { valid: verified.valid, id: verified.user?.id },
    refused: { name: refused.name, reason: refused.reason },
  }));
} finally {
  await identity.close();
}
`;

/** The same usage, typed: tsc must accept it and must reject a wrong call. */
const TYPED = `
import { openIdentity, createIdentityClient, createLocalVerifier, AppError, ConfigError, type IdentityLibrary, type LocalVerifier, type TokenPair, type VerifyResult } from "identity-service";

const identity: IdentityLibrary = await openIdentity({ extraClaims: (user) => ({ tenant: "acme", suffix: user.phone.slice(-4) }) });
const tokens: TokenPair = await identity.createTokensForUser({ id: "0b7c4f5e-3a0e-4a8e-9d38-7f7f1f0c2a11" });
const result: VerifyResult = await identity.verifyToken(tokens.access);
const who: string = result.valid ? result.user.id : result.error;
const next: TokenPair = await identity.refreshAccessToken(tokens.refresh);
const client = createIdentityClient({ baseUrl: "http://127.0.0.1:50051", apiKey: "key" });
const { valid } = await client.verify(next.access);
const verifier: LocalVerifier = createLocalVerifier({ baseUrl: "http://127.0.0.1:50051", apiKey: "key", maxStaleness: "500ms" });
const { user: verifiedUser } = await verifier.verify(next.access);
const trusted: boolean = verifier.status().trusted;
await verifier.close();
// @ts-expect-error the feed needs a service key
createLocalVerifier({ baseUrl: "http://127.0.0.1:50051" });
const reason: string | undefined = new AppError("validation_error").reason;
const variable: string = new ConfigError("JWT_SIGNING_KEY", "missing").variable;
// @ts-expect-error the package's types are real, not any: the user is { id }
await identity.createTokensForUser({ uid: "x" });
console.log(who, valid, reason, variable, verifiedUser?.id, trusted);
await identity.close();
`;

const TSCONFIG = {
  compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: false, types: ["node"] },
  files: ["typed.ts"],
};

describe.runIf(realStoresAvailable())("the packed package", () => {
  let work: string;
  let dataDir: string;
  let stores: Stores;
  let service: Service;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "identity-package-"));
    dataDir = join(work, "data");
    stores = await freshStores("real");
    service = await startService(stores, { env: { DATA_DIR: dataDir, SERVICE_API_KEYS: `package-suite:${API_KEY}` } });
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
    await rm(work, { recursive: true, force: true });
  });

  it("installs from its tarball into a new project, runs as ESM and type-checks", async () => {
    await run("npm", ["pack", "--pack-destination", work], { cwd: ROOT, timeout: 60_000 });
    const tarballs = (await readdir(work)).filter((name) => name.endsWith(".tgz"));
    expect(tarballs).toHaveLength(1);
    const tarball = join(work, tarballs[0]!);

    // What ships: the compiled library, generated code and migrations, and the
    // command's launcher; no sources, tests, data, server bundle or browser client
    // (the package does not export the bridge).
    const listing = (await run("tar", ["-tzf", tarball])).stdout.split("\n").filter(Boolean).map((f) => f.replace(/^package\//, ""));
    expect(listing).toEqual(
      expect.arrayContaining(["dist/src/index.js", "dist/src/index.d.ts", "dist/gen/identity/v1/token_pb.js", "dist/src/store/postgres/migrations/001_initial.sql", "dist/src/cli/identity.js"]),
    );
    expect(listing.filter((f) => !/^dist\/(src|gen)\//.test(f)).sort()).toEqual(["README.md", "bin/identity.mjs", "package.json"]);
    expect(listing.filter((f) => f.endsWith(".map") || (f.endsWith(".ts") && !f.endsWith(".d.ts")) || /\/main\.js$/.test(f))).toEqual([]);

    // A new project. Dependencies come from the npm cache the project's own install
    // filled; only their registry metadata is fetched.
    const app = join(work, "app");
    await mkdir(app);
    await writeFile(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    const typesNode = (JSON.parse(await readFile(join(ROOT, "node_modules", "@types", "node", "package.json"), "utf8")) as { version: string }).version;
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball, `@types/node@${typesNode}`], { cwd: app, timeout: 60_000 });

    // (a) node runs the README's usage against the running service's stores and key.
    const { user } = await registerUser(service);
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...stores.env, DATA_DIR: dataDir, LOG_LEVEL: "silent", USER_ID: user.id, API_KEY, GRPC_URL: `http://127.0.0.1:${service.port}` };
    await writeFile(join(app, "use.mjs"), SCRIPT);
    const { stdout } = await run(process.execPath, ["use.mjs"], { cwd: app, env, timeout: 20_000 });
    expect(JSON.parse(stdout)).toEqual({
      resolved: `file://${join(app, "node_modules", "identity-service", "dist", "src", "index.js")}`,
      local: { valid: true, id: user.id, tenant: "acme" },
      remote: { valid: true, id: user.id },
      verifier: { valid: true, id: user.id },
      refused: { name: "AppError", reason: "validation_error" },
    });

    // (b) tsc checks the typed usage against the shipped declarations.
    await writeFile(join(app, "typed.ts"), TYPED);
    await writeFile(join(app, "tsconfig.json"), JSON.stringify(TSCONFIG));
    const tsc = join(ROOT, "node_modules", ".bin", "tsc");
    // tsc reports on stdout; an empty report is a clean check.
    const report = await run(tsc, ["-p", app], { cwd: app, timeout: 30_000 }).then(() => "", (error: { stdout?: string }) => error.stdout ?? String(error));
    expect(report).toBe("");

    // (c) `npx identity` runs the compiled command (no sources, no tsx here).
    const help = await run("npx", ["--no-install", "identity", "--help"], { cwd: app, env, timeout: 20_000 });
    expect(help.stdout).toMatch(/^Usage: identity COMMAND/);
    expect(help.stdout).toContain("users create --phone PHONE");
    const migrate = await run("npx", ["--no-install", "identity", "migrate"], { cwd: app, env, timeout: 20_000 });
    expect(migrate.stdout).toBe("schema is current: no migration to apply\n");
    const bad = await run("npx", ["--no-install", "identity", "users", "disable"], { cwd: app, env, timeout: 20_000 }).catch((error: { code?: number; stderr?: string }) => error);
    expect(bad).toMatchObject({ code: 2, stderr: "identity users disable: missing PHONE (see identity users disable --help)\n" });
  }, 120_000);
});
