/**
 * The seam the bridge offers around each request it answers, knowing its route:
 * metrics and traces hook in here. Defined beside the service (not in bridge/) so
 * that the tracing types the library ships can name it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/** The route of a request no route serves (an unknown path, or a Connect path with no
 * such method): one bounded label instead of whatever path was asked for. */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * Runs around the answering of one request, knowing its route (`/api/sessions/{id}/`,
 * a Connect method's path, or UNMATCHED_ROUTE). `answer` must be called exactly once;
 * the answer may finish later (see `res`).
 */
export type RequestObserver = (
  route: string,
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  answer: () => void,
) => void;
