/** The files the bridge serves: the demo page and the built browser client. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadClientFiles } from "./client/build.js";
import type { StaticFile } from "./http/static.js";
import { DEMO_DIR, STATIC_JS_DIR } from "./paths.js";

const JS = "text/javascript; charset=utf-8";

export async function loadStaticFiles(): Promise<StaticFile[]> {
  const [page, css, client] = await Promise.all([
    readFile(join(DEMO_DIR, "index.html"), "utf8"),
    readFile(join(DEMO_DIR, "demo.css"), "utf8"),
    loadClientFiles(),
  ]);
  const files: StaticFile[] = [
    { path: "/", contentType: "text/html; charset=utf-8", body: page },
    { path: "/static/css/demo.css", contentType: "text/css; charset=utf-8", body: css },
  ];
  for (const [name, code] of client) files.push({ path: `/static/js/${name}`, contentType: JS, body: code });
  const declarations = await readFile(join(STATIC_JS_DIR, "jwt-client.d.ts"), "utf8").catch(() => undefined);
  if (declarations !== undefined) files.push({ path: "/static/js/jwt-client.d.ts", contentType: "text/plain; charset=utf-8", body: declarations });
  return files;
}
