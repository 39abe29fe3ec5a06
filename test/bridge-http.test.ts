/**
 * The HTTP surface around the routes: the envelope on every answer (404, 405,
 * 413, 415, 400 included), trailing slashes, languages, CORS, health, the static
 * files and their CSP, and HTTP/2 over cleartext on the same port.
 */
import { connect as http2Connect } from "node:http2";
import { request as httpRequest } from "node:http";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inProcess, startBridge, type RunningBridge } from "../bridge/index.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { realStoresAvailable } from "./support/services.js";
import { freshPhone } from "./support/phones.js";

const APP_ORIGIN = "https://app.example";

describe.runIf(realStoresAvailable())("bridge HTTP surface", () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness({ env: { CORS_ORIGINS: `${APP_ORIGIN},http://localhost:3000` } });
  });
  afterAll(async () => {
    await h?.close();
  });

  describe("the envelope on every answer", () => {
    it("answers an unknown path with 404 not_found in the envelope, with nosniff", async () => {
      const answer = await h.request("GET", "/api/nothing-here/");
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual({ success: false, message: expect.any(String), data: { code: "not_found" } });
      expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
      expect(answer.headers.get("content-type")).toBe("application/json; charset=utf-8");
    });

    it("answers a known path with the wrong method with 405 method_not_allowed and Allow", async () => {
      const answer = await h.request("GET", "/api/login/");
      expect(answer.status).toBe(405);
      expect(answer.body.data.code).toBe("method_not_allowed");
      expect(answer.headers.get("allow")).toContain("POST");
      expect((await h.request("POST", "/api/dashboard/", { json: {} })).body.data.code).toBe("method_not_allowed");
    });

    it("answers OPTIONS without an Origin (not a preflight) with 204 and Allow", async () => {
      for (const [path, allow] of [["/api/login/", "POST, OPTIONS"], ["/api/dashboard", "GET, HEAD, OPTIONS"], ["/api/profile/", "PATCH, OPTIONS"]]) {
        const answer = await fetch(`${h.url}${path}`, { method: "OPTIONS" });
        expect({ path, status: answer.status, allow: answer.headers.get("allow"), body: await answer.text() }).toEqual({ path, status: 204, allow, body: "" });
      }
      expect((await h.request("OPTIONS", "/api/nothing-here/")).status).toBe(404);
    });

    it("takes every route with or without its trailing slash", async () => {
      for (const path of ["/api/send-otp", "/api/send-otp/"]) {
        const answer = await h.request("POST", path, { json: { phone: freshPhone().local, purpose: "register" } });
        expect(answer.status).toBe(200);
      }
      expect((await h.request("GET", "/healthz/")).status).toBe(200);
    });

    it("refuses a body that is not JSON by its content type with 415 unsupported_media_type", async () => {
      const body = JSON.stringify({ phone: "09123456789", purpose: "login" });
      for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1"]) {
        const answer = await h.request("POST", "/api/send-otp/", { body, headers: { "content-type": contentType } });
        expect(answer.status).toBe(415);
        expect(answer.body.data.code).toBe("unsupported_media_type");
      }
      expect((await h.request("POST", "/api/send-otp/", { body })).body.data.code).toBe("unsupported_media_type");
      const withCharset = await h.request("POST", "/api/send-otp/", {
        body: JSON.stringify({ phone: freshPhone().local, purpose: "register" }),
        headers: { "content-type": "application/json; charset=UTF-8" },
      });
      expect(withCharset.status).toBe(200);
    });

    it("refuses a body over 64 KiB with 413 payload_too_large, declared or streamed", async () => {
      const big = JSON.stringify({ phone: "x".repeat(70 * 1024), purpose: "login" });
      const declared = await h.request("POST", "/api/send-otp/", { json: JSON.parse(big) });
      expect(declared.status).toBe(413);
      expect(declared.body.data.code).toBe("payload_too_large");

      // Chunked, without Content-Length: counted while it arrives.
      const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${h.url}/api/send-otp/`, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on("error", reject);
        for (let i = 0; i < 70; i++) req.write("x".repeat(1024));
        req.end();
      });
      expect(streamed.status).toBe(413);
      expect(JSON.parse(streamed.body).data.code).toBe("payload_too_large");
    });

    it("refuses malformed and empty JSON with 400 invalid_json", async () => {
      for (const body of ["{", "", "{'phone': 1}", "\u00ff"]) {
        const answer = await h.request("POST", "/api/login/", { body, headers: { "content-type": "application/json" } });
        expect(answer.status).toBe(400);
        expect(answer.body.data.code).toBe("invalid_json");
      }
    });

    it("refuses valid JSON that is not an object with 400 validation_error", async () => {
      for (const body of ["[]", "null", "\"phone\"", "42"]) {
        const answer = await h.request("POST", "/api/login/", { body, headers: { "content-type": "application/json" } });
        expect(answer.status).toBe(400);
        expect(answer.body.data.code).toBe("validation_error");
      }
    });
  });

  describe("languages", () => {
    it("speaks Persian by default and English when Accept-Language asks for it", async () => {
      const fa = await h.request("GET", "/api/dashboard/");
      const en = await h.request("GET", "/api/dashboard/", { headers: { "accept-language": "en-US,en;q=0.9" } });
      expect(fa.body.message).toMatch(/[\u0600-\u06FF]/);
      expect(en.body.message).toBe("Authentication credentials were not provided.");
      const success = await h.request("POST", "/api/send-otp/", { json: { phone: freshPhone().local, purpose: "register" }, headers: { "accept-language": "en" } });
      expect(success.body.message).toBe("The verification code was sent.");
    });

    it("speaks English by default with DEFAULT_LOCALE=en", async () => {
      const english = await startBridge({ config: { ...h.config, defaultLocale: "en" }, log: pino({ level: "silent" }), upstream: inProcess(h.identity) });
      try {
        const answer = await fetch(`${english.url}/api/nowhere`);
        expect(((await answer.json()) as { message: string }).message).toBe("Not found.");
        const fa = await fetch(`${english.url}/api/nowhere`, { headers: { "accept-language": "fa-IR" } });
        expect(((await fa.json()) as { message: string }).message).toMatch(/[\u0600-\u06FF]/);
      } finally {
        await english.close(500);
      }
    });
  });

  describe("CORS", () => {
    it("answers a preflight from an allowed origin, allowing Authorization and Content-Type", async () => {
      const response = await fetch(`${h.url}/api/dashboard/`, {
        method: "OPTIONS",
        headers: { origin: APP_ORIGIN, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
      });
      expect(response.status).toBe(204);
      expect(response.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
      expect(response.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
      expect(response.headers.get("access-control-allow-headers")).toMatch(/Content-Type/);
      expect(response.headers.get("access-control-allow-methods")).toMatch(/PATCH/);
      expect(response.headers.get("access-control-allow-credentials")).toBeNull();
    });

    it("exposes X-Token-Expires-At and X-Authenticated to an allowed origin", async () => {
      const { tokens } = await h.signUp();
      const answer = await h.request("GET", "/api/dashboard/", { headers: { origin: APP_ORIGIN, authorization: `Bearer ${tokens.access}` } });
      expect(answer.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
      expect(answer.headers.get("access-control-expose-headers")).toMatch(/X-Token-Expires-At/);
      expect(answer.headers.get("access-control-expose-headers")).toMatch(/X-Authenticated/);
      expect(answer.headers.get("vary")).toMatch(/Origin/);
    });

    it("gives other origins nothing: no CORS headers, not even on a preflight", async () => {
      const preflight = await fetch(`${h.url}/api/dashboard/`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "GET" } });
      expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
      expect(preflight.headers.get("access-control-allow-headers")).toBeNull();
      const simple = await h.request("GET", "/api/jwks/", { headers: { origin: "https://app.example.evil.example" } });
      expect(simple.headers.get("access-control-allow-origin")).toBeNull();
    });
  });

  describe("health", () => {
    it("answers /healthz and /readyz with 200 while the stores answer", async () => {
      const health = await h.request("GET", "/healthz");
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({ success: true, data: { status: "ok" } });
      const ready = await h.request("GET", "/readyz");
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ success: true, data: { status: "ready" } });
    });
  });

  describe("static files", () => {
    it("serves the demo page under a strict CSP without unsafe-inline, its scripts and styles as files", async () => {
      const response = await fetch(`${h.url}/`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
      const csp = response.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain("unsafe-inline");
      const html = await response.text();
      expect(html).toContain('<script src="/static/js/jwt-client.js"');
      expect(html).not.toMatch(/<script>(?!<\/script>)|<style>|\sstyle="|\son[a-z]+="/);
      for (const path of ["/static/js/demo.js", "/static/css/demo.css"]) expect((await fetch(h.url + path)).status).toBe(200);
    });

    it("serves the client as a plain script that sets window.jwtClient, an ES module, and its type declarations", async () => {
      const script = await fetch(`${h.url}/static/js/jwt-client.js`);
      expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      const code = await script.text();
      expect(code).toContain("window.jwtClient");
      expect(code).not.toMatch(/^\s*(import|export)\s/m);
      const module = await (await fetch(`${h.url}/static/js/jwt-client.mjs`)).text();
      expect(module).toMatch(/export\s*\{[^}]*createJwtClient/);
      const types = await fetch(`${h.url}/static/js/jwt-client.d.ts`);
      if (types.status === 200) expect(await types.text()).toContain("apiRequest(path: string");
    });

    it("answers a revalidation with 304 by ETag", async () => {
      const first = await fetch(`${h.url}/static/js/jwt-client.js`);
      const etag = first.headers.get("etag")!;
      const again = await fetch(`${h.url}/static/js/jwt-client.js`, { headers: { "if-none-match": etag } });
      expect(again.status).toBe(304);
    });
  });

  describe("HTTP/2 over cleartext on the same port", () => {
    let bridge: RunningBridge;
    beforeAll(() => {
      bridge = h.bridge;
    });

    it("serves /api over h2c next to HTTP/1.1", async () => {
      const session = http2Connect(bridge.url);
      try {
        const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const stream = session.request({ ":method": "POST", ":path": "/api/send-otp/", "content-type": "application/json", "accept-language": "en" });
          let status = 0;
          let body = "";
          stream.on("response", (headers) => (status = Number(headers[":status"])));
          stream.on("data", (chunk: Buffer) => (body += chunk.toString()));
          stream.on("end", () => resolve({ status, body }));
          stream.on("error", reject);
          stream.end(JSON.stringify({ phone: freshPhone().local, purpose: "register" }));
        });
        expect(answer.status).toBe(200);
        expect(JSON.parse(answer.body)).toMatchObject({ success: true, message: "The verification code was sent." });
      } finally {
        session.close();
      }
    });
  });
});
