/**
 * One client's revocation feed: the opening set (every revocation whose access
 * tokens could still be live) or, for a cursor that can resume, everything after
 * it; then live revocations as the hub reads them; in log order, without gap or
 * duplicate, with a heartbeat when nothing else was sent for HEARTBEAT_MS.
 *
 * The stream is pulled (the transport asks for the next event when it has room),
 * so the opening set is read page by page at the client's pace. Live revocations
 * cannot wait: they queue, up to MAX_BACKLOG; a client that lets more pile up has
 * fallen behind, and is told to resume from the last cursor it was sent
 * (FeedFellBehind). So whatever the client does, a stream holds a bounded amount.
 */
import type { Logger } from "pino";
import type { Config } from "../../config.js";
import type { Clock } from "../clock.js";
import type { Revocation, RevocationKind, RevocationLog } from "../ports/revocations.js";
import { decodeCursor, encodeCursor, resumable } from "./cursor.js";
import type { RevocationHub } from "./hub.js";
import { openingSince } from "./window.js";

/** A heartbeat when nothing was sent for this long (clients need one a second). */
export const HEARTBEAT_MS = 500;
/** No heartbeat while the hub's last read is older than this: a heartbeat says
 * nothing was missed, which a reader that cannot read does not know. */
export const FRESH_MS = 1_000;
/** Live revocations waiting for a client that is not reading, at most. */
export const MAX_BACKLOG = 1_000;
const PAGE_SIZE = 500;

export interface FeedEvent {
  kind: RevocationKind | "heartbeat";
  cursor: string;
  sessionId: string | null;
  userId: string | null;
  revokedBefore: Date | null;
  at: Date;
}

/** The client let more than MAX_BACKLOG revocations pile up; `resumeCursor` is the
 * last cursor it was sent. */
export class FeedFellBehind extends Error {
  constructor(readonly resumeCursor: string) {
    super("consumer fell behind");
    this.name = "FeedFellBehind";
  }
}

export interface RevocationFeed {
  log: RevocationLog;
  hub: RevocationHub;
}

export interface FeedDeps {
  feed: RevocationFeed;
  clock: Clock;
  config: Pick<Config, "tokens">;
  log: Pick<Logger, "info">;
}

/**
 * Opens a feed after `cursorText` ("" for the opening set). Refuses a cursor that
 * is not one (validation_error) and a log it cannot read (UnavailableError) before
 * anything is sent.
 */
export async function watchRevocations(deps: FeedDeps, cursorText: string): Promise<AsyncIterable<FeedEvent>> {
  const requested = decodeCursor(cursorText);
  const { hub, log } = deps.feed;
  const backlog: Revocation[] = [];
  let fellBehind = false;
  let closed = false;
  let wake: (() => void) | undefined;

  const subscription = await hub.subscribe((revocations) => {
    if (fellBehind) return;
    if (backlog.length + revocations.length > MAX_BACKLOG) {
      fellBehind = true;
      backlog.length = 0;
      subscription.unsubscribe();
    } else {
      backlog.push(...revocations);
    }
    wake?.();
  });
  const state = await log.state().catch((error: unknown) => {
    subscription.unsubscribe();
    throw error;
  });
  const { epoch } = state;
  const cursorOf = (id: number) => encodeCursor({ epoch, id });

  const eventOf = (r: Revocation): FeedEvent => ({ kind: r.kind, cursor: cursorOf(r.id), sessionId: r.sessionId, userId: r.userId, revokedBefore: r.revokedBefore, at: r.at });

  /** Resolves after `ms`, or sooner when the hub pushes or the stream is closed. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wake = done;
    });

  async function* events(): AsyncGenerator<FeedEvent> {
    try {
      yield* feed();
    } finally {
      close();
    }
  }

  async function* feed(): AsyncGenerator<FeedEvent> {
    // From the cursor, everything after it; else the opening window, up to the log's
    // end as it was read (the hub pushes what came after).
    const resume = resumable(requested, state);
    const since = resume ? undefined : openingSince(deps.config.tokens, deps.clock.now());
    const throughId = resume ? undefined : state.lastId;
    let sent = resume ? requested.id : 0;
    for (;;) {
      const page = await log.read({ afterId: sent, throughId, since, limit: PAGE_SIZE });
      for (const revocation of page) {
        if (closed) return;
        if (fellBehind) throw new FeedFellBehind(cursorOf(sent));
        sent = revocation.id;
        yield eventOf(revocation);
      }
      if (page.length < PAGE_SIZE) break;
    }
    if (throughId !== undefined) sent = Math.max(sent, throughId);

    let lastSentAt = performance.now();
    while (!closed) {
      if (fellBehind) {
        deps.log.info({ resumeCursor: cursorOf(sent) }, "revocation feed: consumer fell behind, stream ended");
        throw new FeedFellBehind(cursorOf(sent));
      }
      const next = backlog.shift();
      if (next !== undefined) {
        // Already sent from the log: the hub pushed it before the opening read ended.
        if (next.id <= sent) continue;
        sent = next.id;
        yield eventOf(next);
        lastSentAt = performance.now();
        continue;
      }
      const due = lastSentAt + HEARTBEAT_MS - performance.now();
      if (due > 0) {
        await pause(due);
        continue;
      }
      if (hub.fresh(FRESH_MS)) {
        yield { kind: "heartbeat", cursor: cursorOf(sent), sessionId: null, userId: null, revokedBefore: null, at: new Date(deps.clock.now()) };
        lastSentAt = performance.now();
      } else {
        // Silence, so that clients stop trusting what they hold; look again soon.
        await pause(HEARTBEAT_MS / 5);
      }
    }
  }

  function close(): void {
    closed = true;
    subscription.unsubscribe();
    backlog.length = 0;
    wake?.();
  }
  const generator = events();
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => generator.next(),
      // Frees the stream at once, even while the generator waits for the hub.
      return: async (value?: unknown) => {
        close();
        await generator.return(undefined);
        return { done: true as const, value };
      },
    }),
  };
}
