/**
 * The client of a request as sessions and the audit trail record it: its IP and
 * User-Agent, cut to a size a row can hold whatever a client sends.
 */
import type { ClientInfo } from "../ports/sessions.js";

/** Characters of a User-Agent kept (DESIGN: at most 256). */
export const USER_AGENT_MAX_LENGTH = 256;

/** A client that came through a transport: its IP is always known. */
export interface RequestClient extends ClientInfo {
  ip: string;
}

/** No request behind the change (the library's own calls, the CLI). */
export const UNKNOWN_CLIENT: ClientInfo = { ip: null, userAgent: null };

/** The client of a request: its IP, and its User-Agent as {@link userAgentOf} keeps it. */
export function requestClient(ip: string, userAgent: string | undefined): RequestClient {
  return { ip, userAgent: userAgentOf(userAgent) };
}

/**
 * A User-Agent as it is kept and shown: printable ASCII (anything else, a control
 * character or what a client sent outside ASCII, becomes `?`), at most 256
 * characters, without surrounding spaces; none, or nothing left, is null. The same
 * text is then valid wherever it travels next (an HTTP/2 or gRPC header).
 */
export function userAgentOf(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const kept = [...raw].slice(0, USER_AGENT_MAX_LENGTH).join("").replace(/[^\x20-\x7e]/gu, "?").trim();
  return kept === "" ? null : kept;
}
