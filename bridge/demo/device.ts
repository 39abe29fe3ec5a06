/**
 * A session's device in plain words, from its User-Agent: "Chrome on Windows",
 * "Safari on iPhone", "grpcurl". Hand-written rather than a UA-parsing library: the
 * page needs a browser and a system name, not versions or engines, and this is a
 * few hundred bytes of the bundle instead of tens of kilobytes.
 */

export type DeviceLanguage = "fa" | "en";

/** First match wins: browsers built on Chrome say "Chrome/" too, so they come before it. */
const BROWSERS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bEdg(?:e|A|iOS)?\//, "Edge"],
  [/\bOPR\/|\bOPiOS\/|\bOpera\b/, "Opera"],
  [/\bSamsungBrowser\//, "Samsung Internet"],
  [/\bYaBrowser\//, "Yandex Browser"],
  [/\bFirefox\/|\bFxiOS\//, "Firefox"],
  // No \b: headless Chrome says "HeadlessChrome/".
  [/Chrome\/|\bCriOS\/|\bChromium\//, "Chrome"],
  [/\bMSIE |\bTrident\//, "Internet Explorer"],
  [/\bAppleWebKit\/.*\bSafari\//, "Safari"],
];

/** iPhones and Android phones say "like Mac OS X" and "Linux", so they come first. */
const SYSTEMS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\biPhone\b/, "iPhone"],
  [/\biPad\b/, "iPad"],
  [/\bAndroid\b/, "Android"],
  [/\bWindows Phone\b/, "Windows Phone"],
  [/\bWindows\b/, "Windows"],
  [/\bCrOS\b/, "ChromeOS"],
  [/\bMacintosh\b|\bMac OS X\b/, "Mac"],
  [/\bLinux\b|\bX11\b/, "Linux"],
];

/** Programs rather than browsers, by the first word of their User-Agent. */
const TOOLS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^grpcurl\//i, "grpcurl"],
  [/^curl\//i, "curl"],
  [/^wget\//i, "Wget"],
  [/^PostmanRuntime\//, "Postman"],
  [/^(?:node|undici)\b/i, "Node.js"],
];

const WORDS: Readonly<Record<DeviceLanguage, { on: string; unknown: string; grpc: string }>> = {
  fa: { on: "{browser} روی {system}", unknown: "دستگاه ناشناخته", grpc: "برنامه‌ی gRPC" },
  en: { on: "{browser} on {system}", unknown: "Unknown device", grpc: "gRPC program" },
};

/** The device a User-Agent names, in `language`; "Unknown device" when it names none. */
export function deviceWords(userAgent: string, language: DeviceLanguage): string {
  const words = WORDS[language];
  const ua = userAgent.trim();
  const tool = firstMatch(TOOLS, ua);
  if (tool !== null) return tool;
  const browser = firstMatch(BROWSERS, ua);
  const system = firstMatch(SYSTEMS, ua);
  if (browser !== null && system !== null) return words.on.replace("{browser}", browser).replace("{system}", system);
  if (browser !== null || system !== null) return (browser ?? system)!;
  // grpc-js and the other gRPC libraries append their own name to the caller's.
  if (/^grpc-[\w.-]+\//.test(ua)) return words.grpc;
  // Any other program: the name it gives itself ("okhttp/4.12" → "okhttp").
  const product = /^([A-Za-z][\w.-]{0,39})(?:\/|\s|$)/.exec(ua)?.[1];
  return product !== undefined && product !== "Mozilla" ? product : words.unknown;
}

function firstMatch(table: ReadonlyArray<readonly [RegExp, string]>, ua: string): string | null {
  for (const [pattern, name] of table) if (pattern.test(ua)) return name;
  return null;
}
