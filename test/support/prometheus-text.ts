/**
 * Reads Prometheus's text exposition format (what `GET /metrics` answers) into
 * samples, so tests can ask "how much did this series move" by name and labels.
 */

export interface Sample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

export interface Scrape {
  samples: readonly Sample[];
  /** `# TYPE` of each family. */
  types: ReadonlyMap<string, string>;
  /** The sum of every sample named `name` whose labels include `labels`; 0 when none. */
  value(name: string, labels?: Readonly<Record<string, string>>): number;
  /** The label sets of `name`'s samples. */
  labelsOf(name: string): Readonly<Record<string, string>>[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

export function parsePrometheusText(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [name = "", type = ""] = line.slice(7).split(" ");
      types.set(name, type);
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key = "", value = ""] of (match[2] ?? "").matchAll(LABEL)) labels[key] = unescape(value);
    const raw = match[3] ?? "";
    samples.push({ name: match[1] ?? "", labels, value: raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw) });
  }
  const matches = (sample: Sample, name: string, labels: Readonly<Record<string, string>>) =>
    sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value);
  return {
    samples,
    types,
    value: (name, labels = {}) => samples.filter((s) => matches(s, name, labels)).reduce((sum, s) => sum + s.value, 0),
    labelsOf: (name) => samples.filter((s) => s.name === name).map((s) => s.labels),
  };
}

/** `GET /metrics` on 127.0.0.1:`port`, read; anything but a 200 fails the test. */
export async function scrape(port: unknown): Promise<Scrape> {
  const response = await fetch(`http://127.0.0.1:${String(port)}/metrics`);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}: ${text}`);
  return parsePrometheusText(text);
}
