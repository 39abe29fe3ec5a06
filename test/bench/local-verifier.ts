/**
 * BENCH_ONLY=verifier: createLocalVerifier against remote Verify, from one client
 * process (this one, single-threaded: one core), the service its own process pinned
 * to another core. Local `verify` per second with the verified-token cache warm (one
 * token over and over) and cold (each token verified once); remote Verify per second
 * (32 calls in flight); and the time from a logout's response to a local verifier's
 * first refusal of that session's access token, over a thousand logouts.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createLocalVerifier } from "../../src/index.js";
import { AuthService, OtpPurpose } from "../../gen/identity/v1/auth_pb.js";
import { TokenService } from "../../gen/identity/v1/token_pb.js";
import { freshPhone } from "../support/phones.js";
import { freshDatabase, REDIS_URL } from "../support/services.js";
import { startSmsInbox } from "../support/sms-inbox.js";
import { startServer } from "./server.js";

const SERVER_CPU = 0;
const DURATION_MS = Number(process.env.BENCH_DURATION_S ?? 8) * 1000;
const REVOCATIONS = Number(process.env.BENCH_REVOCATIONS ?? 1000);
const COLD_TOKENS = Number(process.env.BENCH_COLD_TOKENS ?? 3000);

export interface VerifierRow {
  store: string;
  what: string;
  value: string;
  target?: string;
}

const perSecond = (count: number, ms: number) => `${Math.round((count * 1000) / ms).toLocaleString("en")}/s`;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function localVerifierBench(record: (row: VerifierRow) => void): Promise<void> {
  const [database, sms, dataDir] = await Promise.all([freshDatabase(), startSmsInbox(), mkdtemp(join(tmpdir(), "bench-verifier-"))]);
  const apiKey = randomBytes(24).toString("hex");
  const server = await startServer(
    {
      DATABASE_URL: database.url,
      REDIS_URL,
      REDIS_KEY_PREFIX: `bench:${randomBytes(4).toString("hex")}:`,
      DATA_DIR: dataDir,
      SMS_PROVIDER: "webhook",
      SMS_WEBHOOK_URL: sms.url,
      OTP_RESEND_INTERVAL: "0s",
      OTP_MAX_PER_IP_PER_HOUR: "1000000",
      OTP_MAX_PER_PHONE_PER_HOUR: "1000000",
      SERVICE_API_KEYS: `bench:${apiKey}`,
    },
    SERVER_CPU,
  );
  const baseUrl = `http://127.0.0.1:${server.grpcPort}`;
  const transport = createGrpcTransport({ baseUrl });
  const auth = createClient(AuthService, transport);
  const token = createClient(TokenService, transport);
  const verifier = createLocalVerifier({ baseUrl, apiKey });
  const signIn = async () => {
    const phone = freshPhone().e164;
    await auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
    return (await auth.register({ phone, code: sms.codeFor(phone, "register"), firstName: "Bench", lastName: "" })).tokens!;
  };
  try {
    while (!verifier.status().trusted) await new Promise((resolve) => setTimeout(resolve, 50));
    const first = await signIn();

    // Warm: the same token each time (what a backend sees from one user's requests).
    if (!(await verifier.verify(first.access)).valid) throw new Error("the local verifier refused a live token");
    let count = 0;
    const warmStarted = performance.now();
    while (performance.now() - warmStarted < DURATION_MS) {
      await verifier.verify(first.access);
      count++;
    }
    record({ store: "real", what: "local verify, cache warm (one core)", value: perSecond(count, performance.now() - warmStarted) });

    // Cold: every token new to the verifier (each refresh signs a new access token).
    const cold: string[] = [];
    let refresh = first.refresh;
    while (cold.length < COLD_TOKENS) {
      const pair = (await token.refresh({ refresh })).tokens!;
      cold.push(pair.access);
      refresh = pair.refresh;
    }
    const coldStarted = performance.now();
    for (const access of cold) {
      if (!(await verifier.verify(access)).valid) throw new Error("the local verifier refused a live token");
    }
    record({ store: "real", what: `local verify, cache cold (${COLD_TOKENS} tokens, one core)`, value: perSecond(cold.length, performance.now() - coldStarted) });

    // Remote: Verify from this same process, 32 calls in flight.
    const live = cold.at(-1)!;
    let remote = 0;
    const remoteStarted = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (performance.now() - remoteStarted < DURATION_MS) {
          await token.verify({ token: live });
          remote++;
        }
      }),
    );
    record({ store: "real", what: "remote Verify from the same process (32 in flight)", value: perSecond(remote, performance.now() - remoteStarted) });

    // Logout → refusal: sessions made first (eight at a time), then one logout after another.
    const sessions: { access: string; refresh: string }[] = [];
    while (sessions.length < REVOCATIONS) sessions.push(...(await Promise.all(Array.from({ length: Math.min(8, REVOCATIONS - sessions.length) }, signIn))));
    const latencies: number[] = [];
    for (const session of sessions) {
      if (!(await verifier.verify(session.access)).valid) throw new Error("the local verifier refused a live token");
      await auth.logout({ refresh: session.refresh });
      const answered = performance.now();
      for (;;) {
        const answer = await verifier.verify(session.access);
        if (!answer.valid) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      latencies.push(performance.now() - answered);
    }
    latencies.sort((x, y) => x - y);
    record({
      store: "real",
      what: `logout response → local refusal (${REVOCATIONS} logouts)`,
      value: `p50 ${percentile(latencies, 50).toFixed(1)} ms p99 ${percentile(latencies, 99).toFixed(1)} ms max ${latencies.at(-1)!.toFixed(1)} ms`,
      target: "≤ 1 s",
    });
  } finally {
    await verifier.close();
    await server.stop();
    await Promise.all([database.drop(), sms.close(), rm(dataDir, { recursive: true, force: true })]);
  }
}
