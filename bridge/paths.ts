/**
 * Where the bridge's own files are (the demo page, the browser client's sources
 * and its build output): bridge/ of the checkout, whether this code runs from
 * source (tsx) or compiled (dist/bridge/, by `npm run build`).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

function locate(): string {
  const here = fileURLToPath(new URL(".", import.meta.url));
  const candidates = [here, join(here, "..", "..", "bridge")];
  return candidates.find((dir) => existsSync(join(dir, "demo", "index.html"))) ?? here;
}

export const BRIDGE_DIR = locate();
export const DEMO_DIR = join(BRIDGE_DIR, "demo");
export const STATIC_JS_DIR = join(BRIDGE_DIR, "dist", "static", "js");
