/**
 * `GET /metrics` (and HEAD) on HOST:METRICS_PORT for Prometheus, a listener of its own:
 * never on HTTP_PORT, whose callers are the public. Nothing else is served there.
 * Plaintext even with TLS_CERT_FILE set: the scraper is on the operators' private
 * network, where Prometheus usually scrapes plain HTTP (bind HOST accordingly).
 */
import type { Logger } from "pino";
import { listenHttp, type Listening } from "../../bridge/http/listen.js";
import { normalizePath, type HttpResponse, type NodeRequest } from "../../bridge/http/exchange.js";

/** What a scrape reads: a registry (one process), or every worker's summed (WORKERS>1). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface MetricsServerOptions {
  host: string;
  port: number;
  source: MetricsSource;
  log: Logger;
}

export function serveMetrics(options: MetricsServerOptions): Promise<Listening> {
  const { source, log } = options;
  const plain = (res: HttpResponse, status: number, text: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", ...headers });
    res.end(text);
  };
  const handler = (req: NodeRequest, res: HttpResponse) => {
    if (normalizePath(req.url) !== "/metrics") return plain(res, 404, "not found: metrics are at /metrics\n");
    if (req.method !== "GET" && req.method !== "HEAD") return plain(res, 405, "method not allowed\n", { Allow: "GET, HEAD" });
    source.metrics().then(
      (text) => {
        res.writeHead(200, { "Content-Type": source.contentType, "Content-Length": Buffer.byteLength(text), "Cache-Control": "no-store" });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (error: unknown) => {
        // A worker that did not answer the primary in time (prom-client's cluster time-out).
        log.warn({ err: error }, "metrics: the scrape could not be collected");
        plain(res, 503, "metrics unavailable\n");
      },
    );
  };
  return listenHttp({ host: options.host, port: options.port, handler });
}
