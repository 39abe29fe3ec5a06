/**
 * Why a store did not answer, in words an operator acts on: a refused connection
 * (the server is down), a time-out (it hangs or the network drops packets), a lost
 * connection (it went away mid-conversation), authentication, DNS. Read from the
 * driver's error codes (Node's, PostgreSQL's SQLSTATE) and, where drivers give no
 * code (ioredis), their messages.
 */

export type UnreachableCause = "connection_refused" | "timeout" | "connection_lost" | "authentication" | "dns" | "other";

export interface UnreachableReason {
  cause: UnreachableCause;
  /** The driver's own words for it (no secrets: drivers name hosts and users, not passwords). */
  detail: string;
}

/** In the order tried: the first that matches any error of the chain wins. */
const RULES: readonly { cause: UnreachableCause; codes: ReadonlySet<string>; message?: RegExp }[] = [
  // 28P01 invalid password, 28000 invalid authorization (pg_hba); NOAUTH/WRONGPASS from Redis.
  { cause: "authentication", codes: new Set(["28P01", "28000"]), message: /NOAUTH|WRONGPASS|authentication failed|invalid password/i },
  { cause: "dns", codes: new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME"]) },
  { cause: "connection_refused", codes: new Set(["ECONNREFUSED"]) },
  { cause: "timeout", codes: new Set(["ETIMEDOUT", "57014"]), message: /timed? ?out|timeout|no answer within/i },
  // 57P01-57P03: the server shut down or restarted under an open connection.
  { cause: "connection_lost", codes: new Set(["ECONNRESET", "EPIPE", "57P01", "57P02", "57P03"]), message: /terminated|Connection is closed|Stream isn't writeable|connection closed/i },
];

/** The error, its `cause`s and an AggregateError's parts (Node's connect tries each address). */
function chain(error: unknown, seen = new Set<unknown>()): unknown[] {
  if (error === undefined || error === null || seen.has(error)) return [];
  seen.add(error);
  const parts = error instanceof AggregateError ? error.errors.flatMap((e: unknown) => chain(e, seen)) : [];
  const cause = error instanceof Error ? chain(error.cause, seen) : [];
  return [error, ...parts, ...cause];
}

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
};
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export function unreachableReason(error: unknown): UnreachableReason {
  const errors = chain(error);
  for (const rule of RULES) {
    const match = errors.find((e) => rule.codes.has(codeOf(e) ?? "") || (rule.message?.test(messageOf(e)) ?? false));
    // An AggregateError of refused connections has an empty message of its own.
    if (match !== undefined) return { cause: rule.cause, detail: messageOf(match) || messageOf(error) || rule.cause };
  }
  return { cause: "other", detail: messageOf(error) };
}
