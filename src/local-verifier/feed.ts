/**
 * Follows WatchRevocations into a revocation set, and says whether the set can be
 * trusted now: only once this connection's opening set has arrived (the server
 * sends it before its first heartbeat, so that heartbeat marks it) and while an
 * event or heartbeat came within `maxStalenessMs`. A stream that ends or goes quiet
 * is opened again with jittered exponential back-off, resuming after the last cursor.
 */
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Clock } from "../core/clock.js";
import type { RevocationSet } from "../core/sessions/revocation-set.js";
import { RevocationKind, type RevocationEvent, type TokenService } from "../../gen/identity/v1/token_pb.js";

export interface FeedOptions {
  tokens: Pick<Client<typeof TokenService>, "watchRevocations">;
  apiKey: string;
  set: RevocationSet;
  clock: Clock;
  maxStalenessMs: number;
  /** Upper bound of the back-off between attempts. */
  maxBackoffMs?: number;
}

export interface FeedStatus {
  /** Whether the set holds every revocation up to at most `maxStaleness` ago. */
  trusted: boolean;
  /** The last cursor received ("" before the first event). */
  cursor: string;
  /** Streams opened so far. */
  connections: number;
  /** Revocation events received so far (heartbeats not counted). */
  received: number;
}

export interface Feed {
  trusted(): boolean;
  status(): FeedStatus;
  close(): Promise<void>;
}

const FIRST_BACKOFF_MS = 100;

export function followRevocations(options: FeedOptions): Feed {
  const { clock, set, maxStalenessMs } = options;
  const maxBackoffMs = options.maxBackoffMs ?? 5000;
  // A stream silent this long is stalled (heartbeats come at least every second):
  // dropped and opened again, rather than waited on forever.
  const stalledAfterMs = Math.max(2 * maxStalenessMs, 2000);
  let cursor = "";
  let opened = false;
  let lastHeardMs = -Infinity;
  let connections = 0;
  let received = 0;
  let closed = false;
  let stream: AbortController | undefined;
  let wake: (() => void) | undefined;

  const apply = (event: RevocationEvent) => {
    const nowMs = clock.now();
    const atMs = event.at === undefined ? nowMs : timestampMs(event.at);
    if (event.kind === RevocationKind.SESSION && event.sessionId !== "") set.revokeSession(event.sessionId, atMs, nowMs);
    if (event.kind === RevocationKind.USER_BEFORE && event.userId !== "" && event.revokedBefore !== undefined) {
      set.revokeUserBefore(event.userId, timestampMs(event.revokedBefore), atMs, nowMs);
    }
    if (event.kind === RevocationKind.HEARTBEAT) opened = true;
    else received += 1;
    if (event.cursor !== "") cursor = event.cursor;
    lastHeardMs = nowMs;
  };

  const watchdog = setInterval(() => {
    if (stream !== undefined && clock.now() - lastHeardMs > stalledAfterMs) stream.abort();
  }, 250);
  watchdog.unref();

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      wake = () => (clearTimeout(timer), resolve());
    });

  const run = async () => {
    let failures = 0;
    while (!closed) {
      const controller = new AbortController();
      stream = controller;
      opened = false;
      lastHeardMs = clock.now();
      connections += 1;
      try {
        for await (const event of options.tokens.watchRevocations({ cursor }, { headers: { "x-api-key": options.apiKey }, signal: controller.signal })) {
          apply(event);
          if (opened) failures = 0;
        }
      } catch (error) {
        // Fallen behind: the server names the cursor to resume from.
        const resume = ConnectError.from(error).code === Code.ResourceExhausted ? ConnectError.from(error).metadata.get("x-resume-cursor") : null;
        if (resume) cursor = resume;
      } finally {
        stream = undefined;
        opened = false;
      }
      if (closed) break;
      // Full jitter: instances that lost one server do not all come back at once.
      const ceiling = Math.min(maxBackoffMs, FIRST_BACKOFF_MS * 2 ** failures);
      failures += 1;
      await pause(Math.random() * ceiling);
    }
  };
  const running = run();

  const trusted = () => opened && clock.now() - lastHeardMs <= maxStalenessMs;
  return {
    trusted,
    status: () => ({ trusted: trusted(), cursor, connections, received }),
    async close() {
      closed = true;
      clearInterval(watchdog);
      stream?.abort();
      wake?.();
      await running;
    },
  };
}
