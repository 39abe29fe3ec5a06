/**
 * The shipped Grafana dashboard (deploy/grafana/identity.json) and example alert rules
 * (deploy/prometheus/alerts.yml) are written against DESIGN's series names: every
 * PromQL expression in them must name only series the service exports, with labels
 * those series have, or a panel stays empty and an alert never fires, silently.
 *
 * What is exported is read from a live registry (src/observability/metrics.ts) after
 * recording one of everything, so a renamed series or label fails here.
 */
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { createServiceMetrics } from "../src/observability/metrics.js";
import { parsePrometheusText } from "./support/prometheus-text.js";

const DASHBOARD = new URL("../deploy/grafana/identity.json", import.meta.url);
const ALERTS = new URL("../deploy/prometheus/alerts.yml", import.meta.url);
const PROMETHEUS = new URL("../deploy/prometheus/prometheus.yml", import.meta.url);

/** Labels Prometheus adds to every scraped series (target labels). */
const TARGET_LABELS = ["job", "instance"];
/** PromQL words that are not series names; functions are told apart by their "(". */
const KEYWORDS = new Set(["and", "or", "unless", "offset", "bool", "inf", "nan", "by", "without", "on", "ignoring", "group_left", "group_right"]);

/** The label names of each exported series (a histogram's _bucket, _sum and _count included). */
type Exported = ReadonlyMap<string, ReadonlySet<string>>;

async function exportedSeries(): Promise<Exported> {
  const metrics = createServiceMetrics();
  const { domain } = metrics;
  domain.verified("valid");
  domain.otpChecked("login", "ok");
  domain.otpSent("login", "console", "ok");
  domain.smsCall("console", 0.2);
  domain.tokensIssued("access");
  domain.refreshed("rotated");
  domain.sessionsRevoked("logout", 1);
  domain.rateLimited("otp_per_phone");
  metrics.grpcMethod("identity.v1.TokenService", "Verify")("OK", 0.001);
  metrics.httpRoute("/api/token/verify/")(200, 0.001);
  metrics.storeUp("postgres", true);
  metrics.storeError("postgres");
  const exported = new Map<string, Set<string>>();
  for (const sample of parsePrometheusText(await metrics.registry.metrics()).samples) {
    const labels = exported.get(sample.name) ?? exported.set(sample.name, new Set()).get(sample.name)!;
    for (const label of Object.keys(sample.labels)) labels.add(label);
  }
  return exported;
}

interface Selector {
  metric: string;
  /** Label names of its matchers. */
  labels: string[];
}

/** The series selectors of a PromQL expression, and the labels it groups or matches by. */
function referencesOf(expression: string): { selectors: Selector[]; grouping: string[] } {
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  const rest = expression
    // Grafana's variables ($job, ${datasource}, $__rate_interval): values, not names.
    .replace(/\$\{?\w+\}?/g, "")
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, list: string) => {
      grouping.push(...list.split(",").map((label) => label.trim()).filter(Boolean));
      return " ";
    })
    .replace(/([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g, (_, metric: string | undefined, matchers: string) => {
      selectors.push({ metric: metric ?? "", labels: [...matchers.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!) });
      return " ";
    })
    // Range and subquery brackets, then durations (offset 10m) and numbers.
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b\d+(?:\.\d+)?(?:ms|[smhdwy]|e[+-]?\d+)?\b/g, " ");
  for (const [, name, call] of rest.matchAll(/([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (call === undefined && !KEYWORDS.has(name!)) selectors.push({ metric: name!, labels: [] });
  }
  return { selectors, grouping };
}

/** What is wrong with an expression: series not exported, labels those series lack. */
function problemsOf(expression: string, exported: Exported): string[] {
  const { selectors, grouping } = referencesOf(expression);
  const problems: string[] = [];
  const known = new Set(TARGET_LABELS);
  for (const { metric, labels } of selectors) {
    const has = exported.get(metric);
    if (has === undefined) {
      problems.push(`${metric || "(a selector without a name)"} is not exported`);
      continue;
    }
    for (const label of has) known.add(label);
    for (const label of labels) if (!has.has(label) && !TARGET_LABELS.includes(label)) problems.push(`${metric} has no label ${label}`);
  }
  for (const label of grouping) if (!known.has(label)) problems.push(`no series of the expression has the label ${label}`);
  if (selectors.length === 0) problems.push("names no series");
  return problems;
}

/** Grafana's label_values(selector, label): the selector is PromQL, the label must be one of its series'. */
function problemsOfVariable(query: string, exported: Exported): string[] {
  const match = /^label_values\((.*),\s*(\w+)\)$/.exec(query.trim());
  if (match === null) return [`not a label_values() query: ${query}`];
  return problemsOf(`group by (${match[2]}) (${match[1]})`, exported);
}

interface Panel {
  type: string;
  title: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: { uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}

/** Every panel, those inside collapsed rows included. */
const allPanels = (panels: readonly Panel[]): Panel[] => panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);

interface AlertRule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

describe("the Grafana dashboard and the Prometheus alert rules", () => {
  let exported: Exported;
  let dashboard: Dashboard;
  let rules: AlertRule[];
  beforeAll(async () => {
    exported = await exportedSeries();
    dashboard = JSON.parse(await readFile(DASHBOARD, "utf8")) as Dashboard;
    const alerts = parse(await readFile(ALERTS, "utf8")) as { groups: { name: string; rules: AlertRule[] }[] };
    rules = alerts.groups.flatMap((group) => group.rules);
  });

  it("reads every series and label out of an expression, and catches a misspelt series or label", () => {
    expect(referencesOf('histogram_quantile(0.99, sum by (service, method, le) (rate(identity_grpc_request_duration_seconds_bucket{job=~"$job", code!="OK"}[$__rate_interval])))')).toEqual({
      selectors: [{ metric: "identity_grpc_request_duration_seconds_bucket", labels: ["job", "code"] }],
      grouping: ["service", "method", "le"],
    });
    expect(referencesOf("min by (store) (identity_store_up) == 0 and rate(identity_store_errors_total[1d] offset 10m) > 3")).toEqual({
      selectors: [
        { metric: "identity_store_up", labels: [] },
        { metric: "identity_store_errors_total", labels: [] },
      ],
      grouping: ["store"],
    });
    expect(problemsOf('sum by (result) (rate(identity_verify_total{result="valid"}[5m]))', exported)).toEqual([]);
    expect(problemsOf('sum by (result) (rate(identity_verify_totl{result="valid"}[5m]))', exported)).toEqual(["identity_verify_totl is not exported", "no series of the expression has the label result"]);
    expect(problemsOf('sum(rate(identity_verify_total{reslt="valid"}[5m]))', exported)).toEqual(["identity_verify_total has no label reslt"]);
    expect(problemsOf("sum by (reson) (rate(identity_sessions_revoked_total[5m]))", exported)).toEqual(["no series of the expression has the label reson"]);
    expect(problemsOf("rate(identity_grpc_request_duration_seconds[5m])", exported)).toEqual(["identity_grpc_request_duration_seconds is not exported"]);
    expect(problemsOfVariable("label_values(identity_store_up, instanc)", exported)).toEqual(["no series of the expression has the label instanc"]);
  });

  it("knows what the service exports: every DESIGN series, histograms' buckets, and the default process and Node series", () => {
    for (const name of [
      "identity_grpc_requests_total",
      "identity_grpc_request_duration_seconds_bucket",
      "identity_http_requests_total",
      "identity_http_request_duration_seconds_bucket",
      "identity_verify_total",
      "identity_otp_sent_total",
      "identity_otp_checks_total",
      "identity_tokens_issued_total",
      "identity_refresh_total",
      "identity_sessions_revoked_total",
      "identity_rate_limited_total",
      "identity_store_up",
      "identity_store_errors_total",
      "identity_sms_duration_seconds_bucket",
      "process_cpu_seconds_total",
      "nodejs_eventloop_lag_p99_seconds",
    ]) {
      expect(exported.has(name), name).toBe(true);
    }
    expect([...exported.get("identity_grpc_requests_total")!].sort()).toEqual(["code", "method", "service"]);
  });

  it("is a dashboard Grafana imports: uid, title, schemaVersion, the datasource, job and instance variables, and a query on every panel", () => {
    expect(dashboard).toMatchObject({ uid: expect.stringMatching(/^[\w-]{1,40}$/), title: expect.any(String), schemaVersion: expect.any(Number) });
    const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect(variables.get("datasource")).toMatchObject({ type: "datasource", query: "prometheus" });
    expect(variables.get("job")?.type).toBe("query");
    expect(variables.get("instance")?.type).toBe("query");
    const panels = allPanels(dashboard.panels).filter((panel) => panel.type !== "row");
    expect(panels.length).toBeGreaterThan(10);
    for (const panel of panels) {
      expect(panel.datasource?.uid, panel.title).toBe("${datasource}");
      expect(panel.gridPos, panel.title).toBeDefined();
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets!) {
        expect(target.expr, panel.title).toEqual(expect.any(String));
        // Each query is scoped to the chosen job and instances.
        expect(target.expr, panel.title).toMatch(/job=~"\$job", instance=~"\$instance"/);
      }
    }
    expect(new Set(panels.map((panel) => panel.title)).size, "titles are unique").toBe(panels.length);
  });

  it("has a panel for each thing operators look at", () => {
    const titles = allPanels(dashboard.panels).map((panel) => panel.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        "gRPC requests per second by method",
        "gRPC error ratio by method",
        "gRPC latency p50 / p99 by method",
        "HTTP requests per second by route",
        "HTTP error ratio by route",
        "HTTP latency p50 / p99 by route",
        "Verify results by reason",
        "Refresh outcomes",
        "Refresh token reuse detected",
        "OTP sends by provider and result",
        "OTP send failure ratio by provider",
        "SMS provider duration p50 / p99",
        "Rate-limit refusals by limit",
        "Sessions revoked by reason",
        "Tokens issued by type",
        "Store up",
        "Store errors per second",
        "CPU (cores)",
        "Memory",
        "Event-loop lag p99",
      ]),
    );
    // Latency panels are quantiles over the histograms' buckets.
    for (const title of titles.filter((t) => t.includes("p50 / p99"))) {
      const exprs = allPanels(dashboard.panels).find((panel) => panel.title === title)!.targets!.map((t) => t.expr);
      expect(exprs.every((expr) => /^histogram_quantile\(0\.(5|99), .*_bucket\{/.test(expr!)), title).toBe(true);
    }
    // Reuse detections stand out: drawn red among the refresh outcomes.
    const refresh = allPanels(dashboard.panels).find((panel) => panel.title === "Refresh outcomes") as Panel & { fieldConfig: { overrides: { matcher: { options: string }; properties: { id: string; value: unknown }[] }[] } };
    expect(refresh.fieldConfig.overrides).toContainEqual(
      expect.objectContaining({ matcher: expect.objectContaining({ options: "reuse_detected" }), properties: expect.arrayContaining([{ id: "color", value: { mode: "fixed", fixedColor: "red" } }]) }),
    );
  });

  it("names only exported series, with their labels, in every panel query and variable", () => {
    const problems: Record<string, string[]> = {};
    for (const panel of allPanels(dashboard.panels)) {
      for (const [i, target] of (panel.targets ?? []).entries()) {
        const found = problemsOf(target.expr!, exported);
        if (found.length > 0) problems[`${panel.title} #${i}`] = found;
      }
    }
    for (const variable of dashboard.templating.list.filter((v) => v.type === "query")) {
      const query = typeof variable.query === "string" ? variable.query : variable.query.query;
      const found = problemsOfVariable(query, exported);
      if (found.length > 0) problems[`variable ${variable.name}`] = found;
    }
    expect(problems).toEqual({});
  });

  it("has alert rules for a store down, gRPC and HTTP error ratios, a reuse-detection spike and SMS failures, naming only exported series", () => {
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining(["IdentityStoreDown", "IdentityGrpcErrorRatioHigh", "IdentityHttpErrorRatioHigh", "IdentityRefreshReuseSpike", "IdentitySmsFailures"]),
    );
    const problems: Record<string, string[]> = {};
    for (const rule of rules) {
      expect(rule.labels?.severity, rule.alert).toMatch(/^(critical|warning)$/);
      expect(rule.annotations?.summary, rule.alert).toEqual(expect.any(String));
      const found = problemsOf(rule.expr, exported);
      if (found.length > 0) problems[rule.alert] = found;
    }
    expect(problems).toEqual({});
  });

  it("ships a Prometheus config that scrapes METRICS_PORT 9464 at /metrics and loads the rules", async () => {
    const config = parse(await readFile(PROMETHEUS, "utf8")) as { rule_files: string[]; scrape_configs: { metrics_path?: string; static_configs: { targets: string[] }[] }[] };
    expect(config.rule_files).toContain("alerts.yml");
    const [scrape] = config.scrape_configs;
    expect(scrape?.metrics_path ?? "/metrics").toBe("/metrics");
    expect(scrape?.static_configs.flatMap((c) => c.targets).every((target) => target.endsWith(":9464"))).toBe(true);
  });
});
