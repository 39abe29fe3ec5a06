/**
 * The rows of "Where you're logged in" and "Recent activity". A User-Agent and an
 * IP are whatever the client sent: they only ever reach the page as text nodes.
 */
import type { AuditEvent, Session } from "../client/jwt-client.js";
import { activityWords } from "./activity.js";
import { deviceWords } from "./device.js";
import { fullTime, timeAgo } from "./time-words.js";

/** The page's language, its locale for dates and numbers, and its words. */
export interface ListLanguage {
  lang: "fa" | "en";
  locale: string;
  t(key: string): string;
}

/** A session: its device, "this device", when it was last used and from where, and its button. */
export function sessionRow(session: Session, l: ListLanguage): HTMLLIElement {
  const row = document.createElement("li");
  row.dataset.sessionId = session.id;
  const device = deviceWords(session.user_agent ?? "", l.lang);
  const what = element("div", "what", device);
  if (session.current) what.append(element("span", "badge", l.t("thisDevice")));
  const button = element("button", "danger end-session", l.t("endSession"));
  button.type = "button";
  button.dataset.sessionId = session.id;
  button.setAttribute("aria-label", `${l.t("endSession")}: ${device}`);
  row.append(about(what, [fill(l.t("lastUsed"), moment(session.last_used_at, l)), ip(session.ip)]), button);
  return row;
}

/** An event: what happened, then on which device, from where, and when. */
export function activityRow(event: AuditEvent, l: ListLanguage): HTMLLIElement {
  const row = document.createElement("li");
  row.dataset.type = event.type;
  const what = element("div", "what", activityWords(event, l.lang));
  const device = event.user_agent === null ? null : document.createTextNode(deviceWords(event.user_agent, l.lang));
  row.append(about(what, [device, ip(event.ip), moment(event.at, l)]));
  return row;
}

/** The row's text: its headline, then its details joined by " · " (empty ones left out). */
function about(what: HTMLElement, details: ReadonlyArray<Node | null>): HTMLDivElement {
  const line = element("div", "muted");
  for (const detail of details.filter((d): d is Node => d !== null)) {
    if (line.childNodes.length > 0) line.append(" · ");
    line.append(detail);
  }
  const box = document.createElement("div");
  box.append(what, line);
  return box;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** "3 minutes ago", the exact time in its tooltip. */
function moment(iso: string, l: ListLanguage): HTMLTimeElement {
  const time = element("time", "", timeAgo(iso, l.locale));
  time.dateTime = iso;
  time.title = fullTime(iso, l.locale);
  return time;
}

/** An address reads left to right, also in a right-to-left sentence. */
function ip(address: string | null): HTMLElement | null {
  if (address === null) return null;
  const bdi = element("bdi", "ip", address);
  bdi.dir = "ltr";
  return bdi;
}

/** `template` with `{when}` replaced by `node`. */
function fill(template: string, node: Node): HTMLSpanElement {
  const [before = "", after = ""] = template.split("{when}");
  const span = document.createElement("span");
  span.append(before, node, after);
  return span;
}
