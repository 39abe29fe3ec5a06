/**
 * A PostgreSQL server of the test's own, on a free 127.0.0.1 port and a temporary
 * data directory, that the test may crash (`stop("immediate")`), shut down
 * (`stop("fast")`) and start again on the same port and data: the shared server on
 * 5432 is never touched.
 *
 * initdb refuses to run as root (and tests run as root in CI), so when this process
 * is root, initdb and the server run as the `postgres` OS user via `runuser`. The
 * server keeps PostgreSQL's default durability, so what it acknowledged survives a
 * crash exactly as in production.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { freePort } from "./tools.js";

const run = promisify(execFile);
const PG_ROOT = "/usr/lib/postgresql";
const OS_USER = "postgres";

/** The newest `/usr/lib/postgresql/<version>/bin` that has initdb and pg_ctl, if any. */
export function postgresBinDir(): string | undefined {
  if (!existsSync(PG_ROOT)) return undefined;
  const versions = readdirSync(PG_ROOT)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(PG_ROOT, version, "bin");
    if (existsSync(join(bin, "initdb")) && existsSync(join(bin, "pg_ctl"))) return bin;
  }
  return undefined;
}

/**
 * Whether suites needing their own server should run. Under CI=true they always
 * run, so a missing binary fails them (in `postgresChild`) instead of hiding the gap.
 */
export function postgresChildRunnable(): boolean {
  return process.env.CI === "true" || postgresBinDir() !== undefined;
}

export interface PostgresChild {
  readonly port: number;
  /** Superuser URL of the `postgres` database (trust authentication, no password). */
  readonly url: string;
  readonly running: boolean;
  /** Starts the server (again) on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /** `immediate`: SIGQUIT, no checkpoint, crash recovery at the next start (a crash). `fast`: a clean shutdown. */
  stop(mode?: "immediate" | "fast"): Promise<void>;
  /** The server's log so far (for a failing test's message). */
  log(): Promise<string>;
  /** A new empty database on this server; `drop()` removes it. */
  freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }>;
  /** Stops the server (if running) and deletes its files. */
  remove(): Promise<void>;
}

function binDirOrThrow(): string {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error(`PostgreSQL server binaries (initdb, pg_ctl) not found under ${PG_ROOT}/*/bin: install postgresql`);
  return bin;
}

const asRoot = process.getuid?.() === 0;

/** argv for a PostgreSQL program, as the `postgres` OS user when we are root. */
function asServerUser(program: string, args: string[]): [string, string[]] {
  return asRoot ? ["runuser", ["-u", OS_USER, "--", program, ...args]] : [program, args];
}

async function runServerTool(program: string, args: string[], cwd: string): Promise<void> {
  const [file, argv] = asServerUser(program, args);
  try {
    await run(file, argv, { cwd, timeout: 60_000 });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${program} ${args[0] ?? ""} failed: ${e.stderr || e.stdout || e.message}`);
  }
}

async function ownedTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (asRoot) await run("chown", [OS_USER, dir]);
  return dir;
}

export async function postgresChild(): Promise<PostgresChild> {
  const bin = binDirOrThrow();
  const root = await ownedTempDir("identity-pg-");
  const data = join(root, "data");
  const sockets = join(root, "sockets");
  const logFile = join(root, "server.log");
  const pgCtl = join(bin, "pg_ctl");
  // If this process dies without remove() (a killed worker, a crash), the watchdog
  // crashes the server and deletes its files: nothing outlives the test run.
  const watchdog = spawn(
    "sh",
    ["-c", 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; $2 stop -D "$3" -m immediate >/dev/null 2>&1; rm -rf "$4"', "watchdog",
      String(process.pid), asRoot ? `runuser -u ${OS_USER} -- ${pgCtl}` : pgCtl, data, root],
    { detached: true, stdio: "ignore" },
  );
  watchdog.unref();
  try {
    // Each file's cluster is its own (initdb takes under a second); --no-sync: its
    // files are throw-away, the server's own writes keep full durability.
    await runServerTool(join(bin, "initdb"), ["-D", data, "--no-sync", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"], root);
    await mkdir(sockets);
    if (asRoot) await run("chown", [OS_USER, sockets]);
  } catch (error) {
    watchdog.kill();
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  const port = await freePort();
  let running = false;

  const child: PostgresChild = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    get running() {
      return running;
    },
    async start() {
      const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${sockets}`;
      try {
        await runServerTool(pgCtl, ["start", "-D", data, "-w", "-t", "30", "-l", logFile, "-o", options], root);
      } catch (error) {
        const log = await readFile(logFile, "utf8").catch(() => "");
        throw new Error(`${(error as Error).message}\n${log.split("\n").slice(-15).join("\n")}`);
      }
      running = true;
    },
    async stop(mode = "fast") {
      if (!running) return;
      await runServerTool(pgCtl, ["stop", "-D", data, "-m", mode, "-w", "-t", "30"], root);
      running = false;
    },
    log: () => readFile(logFile, "utf8").catch(() => ""),
    async freshDatabase() {
      const name = `idn_test_${randomBytes(6).toString("hex")}`;
      await adminQuery(child.url, `CREATE DATABASE ${name}`);
      const url = new URL(child.url);
      url.pathname = `/${name}`;
      return {
        url: url.toString(),
        drop: async () => {
          if (running) await adminQuery(child.url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        },
      };
    },
    async remove() {
      watchdog.kill();
      await child.stop("immediate").catch(() => {});
      await rm(root, { recursive: true, force: true });
    },
  };
  return child;
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
