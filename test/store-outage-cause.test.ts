/**
 * The cause a "store down" line names (src/store/unreachable-cause.ts), read from what
 * the real drivers throw when their server is missing, hangs, or cannot be resolved.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnavailableError } from "../src/core/errors.js";
import { createRedisStore } from "../src/store/kv/redis.js";
import { createPostgresDatabase } from "../src/store/postgres/db.js";
import { unreachableReason } from "../src/store/unreachable-cause.js";
import { freePort } from "./support/tools.js";

/** What `run` rejected with (it must reject). */
async function rejection(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

async function pingPostgres(url: string, connectTimeoutMs = 2_000): Promise<unknown> {
  const db = await createPostgresDatabase({ url, connectTimeoutMs });
  try {
    return await rejection(() => db.ping());
  } finally {
    await db.close();
  }
}

describe("why a store did not answer", () => {
  /** Accepts connections and never says a word (a hung server). */
  let silent: net.Server;
  const held: net.Socket[] = [];
  beforeAll(async () => {
    silent = net.createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it("PostgreSQL on a port nobody listens on: connection refused", async () => {
    const error = await pingPostgres(`postgres://postgres@127.0.0.1:${await freePort()}/test`);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(unreachableReason(error)).toEqual({ cause: "connection_refused", detail: expect.stringContaining("ECONNREFUSED") });
  });

  it("PostgreSQL that accepts the connection and never answers: time-out", async () => {
    const { port } = silent.address() as net.AddressInfo;
    const error = await pingPostgres(`postgres://postgres@127.0.0.1:${port}/test`, 300);
    expect(unreachableReason(error)).toMatchObject({ cause: "timeout" });
  });

  it("PostgreSQL on a host name that does not resolve: DNS", async () => {
    const error = await pingPostgres("postgres://postgres@identity-store-test.invalid:5432/test", 10_000);
    expect(unreachableReason(error)).toMatchObject({ cause: "dns", detail: expect.stringContaining("identity-store-test.invalid") });
  }, 15_000);

  it("Redis on a port nobody listens on: connection refused", async () => {
    const port = await freePort();
    const error = await rejection(() => createRedisStore({ url: `redis://127.0.0.1:${port}`, keyPrefix: "t:" }));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(unreachableReason(error)).toMatchObject({ cause: "connection_refused" });
  });

  it("a refused password (PostgreSQL's SQLSTATE 28P01, Redis's WRONGPASS): authentication", () => {
    const pgError = Object.assign(new Error('password authentication failed for user "identity"'), { code: "28P01" });
    expect(unreachableReason(new UnavailableError("database", pgError.message, { cause: pgError }))).toEqual({ cause: "authentication", detail: pgError.message });
    expect(unreachableReason(new Error("WRONGPASS invalid username-password pair or user is disabled."))).toMatchObject({ cause: "authentication" });
  });

  it("anything else is other, in the driver's words", () => {
    expect(unreachableReason(new Error("disk full"))).toEqual({ cause: "other", detail: "disk full" });
  });
});
