/**
 * The lean router of the `/api` surface: exact paths (trailing slash optional,
 * see normalizePath), one handler per method. A path with no handler for the
 * method is 405 with `Allow`, and OPTIONS on it is 204 with `Allow`; no path at all
 * is 404. HEAD is served by GET.
 */
import type { Exchange } from "./exchange.js";
import { normalizePath } from "./exchange.js";

export type Handler = (ex: Exchange) => Promise<void> | void;

export type Match = { handler: Handler } | { allow: string } | undefined;

export interface Router {
  add(method: string, path: string, handler: Handler): Router;
  find(method: string, path: string): Match;
}

export function createRouter(): Router {
  const routes = new Map<string, Map<string, Handler>>();
  const router: Router = {
    add(method, path, handler) {
      const key = normalizePath(path);
      let methods = routes.get(key);
      if (methods === undefined) routes.set(key, (methods = new Map()));
      if (methods.has(method)) throw new Error(`route ${method} ${key} is defined twice`);
      methods.set(method, handler);
      return router;
    },
    find(method, path) {
      const methods = routes.get(path);
      if (methods === undefined) return undefined;
      const handler = methods.get(method) ?? (method === "HEAD" ? methods.get("GET") : undefined);
      if (handler !== undefined) return { handler };
      const allowed = [...methods.keys()];
      if (methods.has("GET")) allowed.push("HEAD");
      const allow = [...allowed, "OPTIONS"].join(", ");
      // OPTIONS that is not a CORS preflight (those are answered before routing) asks
      // what the resource allows: that is an answer, not an error.
      if (method === "OPTIONS") return { handler: (ex) => void (ex.res.writeHead(204, { Allow: allow }), ex.res.end()) };
      return { allow };
    },
  };
  return router;
}
