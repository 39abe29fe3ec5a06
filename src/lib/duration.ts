const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Parses `90s`, `30m`, `1h`, `14d`, `250ms` or bare seconds (`3600`) into
 * milliseconds. Returns `undefined` for anything else, so the caller can name the
 * variable in its error.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  const unit = (match[2] ?? "s") as keyof typeof UNIT_MS;
  const ms = Math.round(value * UNIT_MS[unit]);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
