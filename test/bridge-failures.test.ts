/**
 * The bridge when things go wrong: a bug (500 with nothing leaked), and the
 * per-IP send limit with X-Forwarded-For believed only from TRUSTED_PROXIES.
 * (Stores that stop answering: test/resilience-stores.test.ts.)
 */
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inProcess, startBridge } from "../bridge/index.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { realStoresAvailable } from "./support/services.js";
import { freshPhone } from "./support/phones.js";

describe.runIf(realStoresAvailable())("bridge failures", () => {
  // A store that stops answering: test/resilience-stores.test.ts, on every surface.
  describe("a bug", () => {
    let h: BridgeHarness;

    beforeAll(async () => {
      h = await startBridgeHarness({
        adapt: (identity) => ({
          ...identity,
          auth: {
            ...identity.auth,
            updateProfile: () => Promise.reject(new Error("connection to db-7.internal refused: password hunter2")),
          },
        }),
      });
    });
    afterAll(async () => {
      await h?.close();
    });

    it("answers an unexpected failure with 500 internal_error and leaks nothing of it", async () => {
      const { tokens } = await h.signUp();
      const answer = await h.request("PATCH", "/api/profile/", { json: { first_name: "A" }, headers: { authorization: `Bearer ${tokens.access}` } });
      expect(answer.status).toBe(500);
      expect(answer.body.data).toEqual({ code: "internal_error" });
      expect(JSON.stringify(answer.body)).not.toMatch(/hunter2|db-7/);
    });
  });

  describe("the per-IP send limit", () => {
    let h: BridgeHarness;
    beforeAll(async () => {
      h = await startBridgeHarness({ env: { OTP_MAX_PER_IP_PER_HOUR: "2", TRUSTED_PROXIES: "127.0.0.1" } });
    });
    afterAll(async () => {
      await h?.close();
    });

    const send = (url: string, forwardedFor: string) =>
      fetch(`${url}/api/send-otp/`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": forwardedFor },
        body: JSON.stringify({ phone: freshPhone().local, purpose: "register" }),
      });

    it("counts the client a trusted proxy names, and answers 429 rate_limited with Retry-After past the cap", async () => {
      expect((await send(h.url, "203.0.113.7")).status).toBe(200);
      expect((await send(h.url, "203.0.113.7")).status).toBe(200);
      const third = await send(h.url, "203.0.113.7");
      expect(third.status).toBe(429);
      expect(((await third.json()) as { data: { code: string } }).data.code).toBe("rate_limited");
      expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(60);
      expect((await send(h.url, "203.0.113.8")).status).toBe(200);
    });

    it("ignores X-Forwarded-For from a peer that is not a trusted proxy", async () => {
      const direct = await startBridge({ config: { ...h.config, trustedProxies: [] }, log: pino({ level: "silent" }), upstream: inProcess(h.identity) });
      try {
        // Both count against 127.0.0.1, whatever they claim.
        expect((await send(direct.url, "198.51.100.1")).status).toBe(200);
        expect((await send(direct.url, "198.51.100.2")).status).toBe(200);
        expect((await send(direct.url, "198.51.100.3")).status).toBe(429);
      } finally {
        await direct.close(500);
      }
    });
  });
});
