#!/usr/bin/env node
/**
 * `identity`: the operator's command line (src/cli). In a checkout it runs the
 * TypeScript sources through tsx, as `npm run migrate` always did, so it never runs
 * stale code; where the sources or tsx are absent (the packed package, an image
 * installed without devDependencies) it runs the compiled dist/src/cli/identity.js.
 * Plain JavaScript, so that nothing has to be compiled to run it.
 */
import { existsSync } from "node:fs";

const source = new URL("../src/cli/identity.ts", import.meta.url);
const compiled = new URL("../dist/src/cli/identity.js", import.meta.url);

async function loadTsx() {
  try {
    return await import("tsx/esm/api");
  } catch (error) {
    if (error?.code === "ERR_MODULE_NOT_FOUND") return undefined;
    throw error;
  }
}

const tsx = existsSync(source) ? await loadTsx() : undefined;
if (tsx !== undefined) {
  tsx.register();
  await import(source.href);
} else if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  process.stderr.write("identity: neither tsx with src/ nor the compiled dist/src/cli/identity.js is here (run npm run build:lib)\n");
  process.exit(1);
}
