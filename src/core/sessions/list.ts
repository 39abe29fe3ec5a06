import type { CoreDeps } from "../deps.js";
import type { LiveSession } from "../ports/sessions.js";
import type { Caller } from "../tokens/authenticate.js";

/** A live session of the caller, and whether it is the one the call came from. */
export interface ListedSession extends LiveSession {
  current: boolean;
}

/** Where the caller is logged in: their live sessions, most recently used first. */
export async function listSessions(deps: Pick<CoreDeps, "sessions" | "clock">, caller: Caller): Promise<ListedSession[]> {
  const sessions = await deps.sessions.listLive(caller.user.id, new Date(deps.clock.now()));
  return sessions.map((session) => ({ ...session, current: session.id === caller.sessionId }));
}
