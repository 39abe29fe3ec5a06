/**
 * Verify's tail against the no-op's, on fresh servers in alternating pairs, for
 * comparing node flags (or two trees) on this shared machine: each server gets the
 * bench's own sequence (peaks of the no-op and Verify, then each at half its peak,
 * paced by h2load --rps) and prints one JSON line: both p99s, their ratio, and the
 * collections during the paced Verify run, the mark-compacts with V8's reason.
 *
 *   TAIL_FLAGS_A="" TAIL_FLAGS_B="--single-threaded-gc" TAIL_PAIRS=3 taskset -c 1 npx tsx test/bench/verify-tail.ts
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { HealthCheckRequestSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { AuthService, OtpPurpose } from "../../gen/identity/v1/auth_pb.js";
import { VerifyRequestSchema } from "../../gen/identity/v1/token_pb.js";
import { freshPhone } from "../support/phones.js";
import { grpcFrame, h2load } from "./load.js";
import { startServer } from "./server.js";
import { benchStores } from "./stores.js";

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const PAIRS = Number(process.env.TAIL_PAIRS ?? 3);
const variants = { A: process.env.TAIL_FLAGS_A ?? "", B: process.env.TAIL_FLAGS_B ?? "" };
const words = (flags: string) => flags.split(/\s+/).filter(Boolean);

const stores = await benchStores();
const { sms, env } = stores;

async function once(name: keyof typeof variants): Promise<void> {
  const server = await startServer(env, 0, words(variants[name]), "node", undefined, true);
  try {
    const url = `http://127.0.0.1:${server.grpcPort}`;
    const auth = createClient(AuthService, createGrpcTransport({ baseUrl: url }));
    const phone = freshPhone().e164;
    await auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
    const { tokens } = await auth.register({ phone, code: sms.codeFor(phone, "register"), firstName: "Bench", lastName: "User" });
    const noopBody = grpcFrame(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema)));
    const verifyBody = grpcFrame(toBinary(VerifyRequestSchema, create(VerifyRequestSchema, { token: tokens!.access })));
    const noop = await h2load({ url: `${url}/grpc.health.v1.Health/Check`, body: noopBody, durationS: DURATION_S, cpu: 1 });
    const verify = await h2load({ url: `${url}/identity.v1.TokenService/Verify`, body: verifyBody, durationS: DURATION_S, cpu: 1 });
    const mark = server.gcMark();
    const paced = await h2load({ url: `${url}/identity.v1.TokenService/Verify`, body: verifyBody, durationS: DURATION_S, cpu: 1, rps: Math.floor(verify.perSecond / 2) });
    const gc = server.gcSince(mark);
    const marks = server.gcEventsSince(mark).filter((e) => e.kind === "mark-compact").map((e) => e.line.replace(/^\[[^\]]*\]\s*/, ""));
    const noopMark = server.gcMark();
    const pacedNoop = await h2load({ url: `${url}/grpc.health.v1.Health/Check`, body: noopBody, durationS: DURATION_S, cpu: 1, rps: Math.floor(noop.perSecond / 2) });
    const noopGc = server.gcSince(noopMark);
    console.log(
      JSON.stringify({
        variant: name,
        flags: variants[name],
        peaks: { noop: Math.round(noop.perSecond), verify: Math.round(verify.perSecond) },
        p99: { verify: paced.p99Ms, noop: pacedNoop.p99Ms, ratio: Number((paced.p99Ms / pacedNoop.p99Ms).toFixed(2)) },
        gc: { verify: gc, noop: noopGc },
        markCompacts: marks,
        rssMiB: Math.round((await server.rssKiB()) / 1024),
      }),
    );
  } finally {
    await server.stop();
  }
}

try {
  for (let pair = 0; pair < PAIRS; pair++) {
    // Alternate which goes first: the first of a pair has seen a quieter machine.
    for (const name of pair % 2 === 0 ? (["A", "B"] as const) : (["B", "A"] as const)) await once(name);
  }
} finally {
  await stores.remove();
}
