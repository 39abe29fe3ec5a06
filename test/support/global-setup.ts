/**
 * Checks once per run that the real PostgreSQL and Redis answer. Under CI=true a
 * missing store fails the run; locally the real-store suites are reported as not run.
 */
import net from "node:net";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { createPgliteDatabase } from "../../src/store/postgres/db.js";
import { listMigrations, migrate } from "../../src/store/postgres/migrate.js";
import { POSTGRES_ADMIN_URL, REDIS_URL } from "./services.js";

declare module "vitest" {
  export interface ProvidedContext {
    realStores: boolean;
    pgliteTemplate: string;
  }
}

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || defaultPort) });
    socket.setTimeout(1000);
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("timeout", () => (socket.destroy(), resolve(false)));
    socket.once("error", () => resolve(false));
  });
}

export default async function setup(project: TestProject): Promise<void> {
  const [postgres, redis] = await Promise.all([reachable(POSTGRES_ADMIN_URL, 5432), reachable(REDIS_URL, 6379)]);
  project.provide("realStores", postgres && redis);
  project.provide("pgliteTemplate", await pgliteTemplate());
  if (postgres && redis) return;
  const missing = [!postgres && `PostgreSQL (${POSTGRES_ADMIN_URL})`, !redis && `Redis (${REDIS_URL})`].filter(Boolean).join(" and ");
  if (process.env.CI === "true") {
    throw new Error(`CI=true but ${missing} did not answer: the real-store suites must run in CI.`);
  }
  console.warn(`\n[tests] ${missing} did not answer: the real-store suites will not run.\n`);
}

/**
 * An embedded database with the current migrations applied, made once and copied
 * by each embedded-store test (initdb alone takes seconds).
 */
async function pgliteTemplate(): Promise<string> {
  const migrations = await listMigrations();
  const hash = createHash("sha256").update(JSON.stringify(migrations)).digest("hex").slice(0, 12);
  const dir = join(tmpdir(), `identity-pglite-template-${hash}`);
  if (existsSync(dir)) return dir;
  const building = `${dir}.${process.pid}`;
  await rm(building, { recursive: true, force: true });
  const db = await createPgliteDatabase(building);
  await migrate(db);
  await db.close();
  await rename(building, dir).catch(async () => rm(building, { recursive: true, force: true }));
  return dir;
}
