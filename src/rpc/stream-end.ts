/**
 * A server stream ended by the service with a status of its own choosing and
 * trailers (a consumer that fell behind, told where to resume), rather than by a
 * refusal from the one list of reasons: transports send it as it is.
 */
import type { Code } from "@connectrpc/connect";

export class StreamEnd extends Error {
  constructor(
    readonly code: Code,
    message: string,
    readonly trailers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "StreamEnd";
  }
}
