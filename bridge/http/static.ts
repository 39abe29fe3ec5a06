/**
 * Files served from memory: the demo page, its stylesheet and the browser client.
 * Revalidated by ETag; the page itself under a strict Content-Security-Policy (no
 * inline script or style, so all of it lives in the files served here).
 */
import { createHash } from "node:crypto";
import { headerOf, type Exchange } from "./exchange.js";
import type { Router } from "./router.js";

export interface StaticFile {
  path: string;
  contentType: string;
  body: string | Uint8Array;
}

const PAGE_HEADERS = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

export function addStaticRoutes(router: Router, files: readonly StaticFile[]): void {
  for (const file of files) {
    const body = typeof file.body === "string" ? Buffer.from(file.body) : file.body;
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    const headers = {
      "Content-Type": file.contentType,
      "Cache-Control": "no-cache",
      ETag: etag,
      ...(file.contentType.startsWith("text/html") ? PAGE_HEADERS : {}),
    };
    router.add("GET", file.path, (ex: Exchange) => {
      if (headerOf(ex.req.headers, "if-none-match") === etag) {
        ex.res.writeHead(304, { ETag: etag, "Cache-Control": "no-cache" });
        ex.res.end();
        return;
      }
      ex.res.writeHead(200, { ...headers, "Content-Length": body.length });
      ex.res.end(body);
    });
  }
}
