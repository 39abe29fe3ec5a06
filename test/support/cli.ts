/**
 * The `identity` command run as operators run it: the real bin (bin/identity.mjs,
 * what `npx identity` runs) as a process of its own, with nothing but the
 * environment a test gives it.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "identity.mjs");

export interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `identity ...args` with only these environment variables (and PATH, HOME). */
export function identity(env: Record<string, string>, ...args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}

/** Exit `status` with one line on stderr (returned), no stack trace, nothing on stdout. */
export function refused(ran: Ran, status: 1 | 2): string {
  expect({ status: ran.status, stdout: ran.stdout }).toEqual({ status, stdout: "" });
  const lines = ran.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toMatch(/\bat .*:\d+:\d+/);
  return lines[0]!;
}

