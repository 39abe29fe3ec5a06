/**
 * The lean router of the `/api` surface: paths (trailing slash optional, see
 * normalizePath) made of fixed segments and `{name}` parameters, one handler per
 * method. A parameter matches one whole, non-empty segment. A path with no handler
 * for the method is 405 with `Allow`, and OPTIONS on it is 204 with `Allow`; no
 * path at all is 404. HEAD is served by GET. Fixed paths win over patterns.
 */
import type { Exchange } from "./exchange.js";
import { normalizePath } from "./exchange.js";

/** The values of a route's `{name}` segments, percent-decoded. */
export type PathParams = Readonly<Record<string, string>>;

export type Handler = (ex: Exchange, params: PathParams) => Promise<void> | void;

/** `route` is the path as the route was added (`/api/sessions/{id}/`, DESIGN's
 * spelling): what metrics and traces name a request by, never its raw path. */
export type Match = { handler: Handler; params: PathParams; route: string } | { allow: string; route: string } | undefined;

export interface Router {
  add(method: string, path: string, handler: Handler): Router;
  find(method: string, path: string): Match;
}

interface Pattern {
  segments: string[];
  methods: Map<string, Handler>;
}

/** The handlers of one path, and the path as it was added. */
interface Routes {
  route: string;
  methods: Map<string, Handler>;
}

const NO_PARAMS: PathParams = Object.freeze({});

export function createRouter(): Router {
  const exact = new Map<string, Routes>();
  const patterns: (Pattern & Routes)[] = [];

  function routesOf(key: string, route: string): Routes {
    if (!key.includes("{")) {
      let routes = exact.get(key);
      if (routes === undefined) exact.set(key, (routes = { route, methods: new Map() }));
      return routes;
    }
    const segments = key.split("/");
    let pattern = patterns.find((p) => p.segments.join("/") === key);
    if (pattern === undefined) patterns.push((pattern = { segments, route, methods: new Map() }));
    return pattern;
  }

  function lookup(path: string): { routes: Routes; params: PathParams } | undefined {
    const routes = exact.get(path);
    if (routes !== undefined) return { routes, params: NO_PARAMS };
    const segments = path.split("/");
    for (const pattern of patterns) {
      const params = matchSegments(pattern.segments, segments);
      if (params !== undefined) return { routes: pattern, params };
    }
    return undefined;
  }

  const router: Router = {
    add(method, path, handler) {
      const key = normalizePath(path);
      const { methods } = routesOf(key, path);
      if (methods.has(method)) throw new Error(`route ${method} ${key} is defined twice`);
      methods.set(method, handler);
      return router;
    },
    find(method, path) {
      const found = lookup(path);
      if (found === undefined) return undefined;
      const { routes, params } = found;
      const { methods, route } = routes;
      const handler = methods.get(method) ?? (method === "HEAD" ? methods.get("GET") : undefined);
      if (handler !== undefined) return { handler, params, route };
      const allowed = [...methods.keys()];
      if (methods.has("GET")) allowed.push("HEAD");
      const allow = [...allowed, "OPTIONS"].join(", ");
      // OPTIONS that is not a CORS preflight (those are answered before routing) asks
      // what the resource allows: that is an answer, not an error.
      if (method === "OPTIONS") return { handler: (ex) => void (ex.res.writeHead(204, { Allow: allow }), ex.res.end()), params, route };
      return { allow, route };
    },
  };
  return router;
}

/** The parameters of `segments` under `pattern`, or undefined when it does not match. */
function matchSegments(pattern: readonly string[], segments: readonly string[]): PathParams | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i] as string;
    const got = segments[i] as string;
    if (want.startsWith("{") && want.endsWith("}")) {
      if (got === "") return undefined;
      let value: string;
      try {
        value = decodeURIComponent(got);
      } catch {
        return undefined; // malformed percent-encoding: no such resource
      }
      params[want.slice(1, -1)] = value;
    } else if (want !== got) {
      return undefined;
    }
  }
  return params;
}
