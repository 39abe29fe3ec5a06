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

/** The client of a request: its IP, and its User-Agent (empty: none) cut to the cap. */
export function requestClient(ip: string, userAgent: string | undefined): RequestClient {
  const agent = userAgent === undefined || userAgent === "" ? null : [...userAgent].slice(0, USER_AGENT_MAX_LENGTH).join("");
  return { ip, userAgent: agent };
}
