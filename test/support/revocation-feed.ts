/**
 * A WatchRevocations stream read by a real @grpc/grpc-js client, described from the
 * generated descriptors: what other languages' verifiers do over plain gRPC. Events
 * are collected as they arrive; the stream can be left unread (paused).
 */
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { credentials, makeGenericClientConstructor, Metadata, type ClientReadableStream, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import { RevocationEventSchema, RevocationKind, TokenService, WatchRevocationsRequestSchema, type RevocationEvent } from "../../gen/identity/v1/token_pb.js";
import { eventually } from "./eventually.js";

const method = TokenService.method.watchRevocations;

const FeedClient = makeGenericClientConstructor(
  {
    watchRevocations: {
      path: `/${TokenService.typeName}/${method.name}`,
      requestStream: false,
      responseStream: true,
      requestSerialize: (request: Parameters<typeof create<typeof WatchRevocationsRequestSchema>>[1]) => Buffer.from(toBinary(WatchRevocationsRequestSchema, create(WatchRevocationsRequestSchema, request))),
      requestDeserialize: (bytes: Buffer) => fromBinary(WatchRevocationsRequestSchema, bytes),
      responseSerialize: (event: RevocationEvent) => Buffer.from(toBinary(RevocationEventSchema, event)),
      responseDeserialize: (bytes: Buffer) => fromBinary(RevocationEventSchema, bytes),
    },
  },
  TokenService.typeName,
);

/** An event as tests compare them. */
export interface SeenEvent {
  kind: "session" | "user_before" | "heartbeat";
  cursor: string;
  sessionId: string;
  userId: string;
  revokedBeforeMs: number | undefined;
  atMs: number;
  /** performance.now() when it arrived. */
  arrivedAt: number;
}

const KIND_NAMES: Partial<Record<RevocationKind, SeenEvent["kind"]>> = {
  [RevocationKind.SESSION]: "session",
  [RevocationKind.USER_BEFORE]: "user_before",
  [RevocationKind.HEARTBEAT]: "heartbeat",
};

export interface FeedStream {
  /** Every event so far, heartbeats included, in arrival order. */
  readonly events: SeenEvent[];
  /** The revocations so far (no heartbeats). */
  revocations(): SeenEvent[];
  /** Resolves with the stream's status (and trailers) when it ends. */
  readonly ended: Promise<StatusObject>;
  /** Stops reading (flow control then holds the server back), or reads again. */
  pause(): void;
  resume(): void;
  cancel(): void;
  close(): void;
  /** Waits until `until` holds of the revocations seen. */
  revocationsUntil(until: (seen: SeenEvent[]) => boolean, withinMs?: number): Promise<SeenEvent[]>;
}

export interface FeedOptions {
  apiKey?: string | undefined;
  cursor?: string;
  /** Start without reading. */
  paused?: boolean;
}

export function watchFeed(port: number, options: FeedOptions = {}): FeedStream {
  const client = new FeedClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const metadata = new Metadata();
  if (options.apiKey !== undefined) metadata.set("x-api-key", options.apiKey);
  const call = (client as unknown as { watchRevocations(request: object, metadata: Metadata): ClientReadableStream<RevocationEvent> }).watchRevocations(
    { cursor: options.cursor ?? "" },
    metadata,
  );
  const events: SeenEvent[] = [];
  call.on("data", (event: RevocationEvent) => {
    events.push({
      kind: KIND_NAMES[event.kind] ?? (`unknown ${event.kind}` as SeenEvent["kind"]),
      cursor: event.cursor,
      sessionId: event.sessionId,
      userId: event.userId,
      revokedBeforeMs: event.revokedBefore === undefined ? undefined : timestampMs(event.revokedBefore),
      atMs: event.at === undefined ? Number.NaN : timestampMs(event.at),
      arrivedAt: performance.now(),
    });
  });
  if (options.paused === true) call.pause();
  const ended = new Promise<StatusObject>((resolve) => {
    call.on("status", (status: StatusObject) => resolve(status));
    // The status event follows an error; the error alone is not the end.
    call.on("error", (_error: ServiceError) => {});
  });
  const revocations = () => events.filter((e) => e.kind !== "heartbeat");
  return {
    events,
    revocations,
    ended,
    pause: () => call.pause(),
    resume: () => call.resume(),
    cancel: () => call.cancel(),
    close() {
      call.cancel();
      client.close();
    },
    revocationsUntil: (until, withinMs = 8_000) => eventually(async () => revocations(), until, { withinMs, stepMs: 20 }),
  };
}
