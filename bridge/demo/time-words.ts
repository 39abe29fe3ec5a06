/**
 * How long ago something happened, in words: "now", "3 minutes ago", "yesterday";
 * past a week, the date. The exact time stays in the element's `title`.
 */

const UNITS: ReadonlyArray<readonly [Intl.RelativeTimeFormatUnit, number]> = [
  ["second", 1],
  ["minute", 60],
  ["hour", 3_600],
  ["day", 86_400],
];
const WEEK_S = 7 * 86_400;

export function timeAgo(iso: string, locale: string, now = Date.now()): string {
  const at = Date.parse(iso);
  // A server clock a little ahead of this browser's is still "now", never "in 2 seconds".
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  if (seconds >= WEEK_S) return new Date(at).toLocaleDateString(locale, { dateStyle: "medium" });
  const format = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  if (seconds < 45) return format.format(0, "second");
  let [unit, size] = UNITS[0]!;
  for (const [u, s] of UNITS) if (seconds >= s) [unit, size] = [u, s];
  return format.format(-Math.floor(seconds / size), unit);
}

/** The full date and time, for a tooltip. */
export function fullTime(iso: string, locale: string): string {
  return new Date(iso).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}
