import { describe, expect, it } from "vitest";
import { UnavailableError } from "../../../src/core/errors.js";
import { MAX_FAILURES_PER_PHONE } from "../../../src/core/otp/failures.js";
import { sendOtp } from "../../../src/core/otp/send.js";
import type { AuditEvent } from "../../../src/core/ports/audit.js";
import type { RequestClient } from "../../../src/core/sessions/client.js";
import { login } from "../../../src/core/users/login.js";
import { register } from "../../../src/core/users/register.js";
import { freshPhone } from "../../support/phones.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { capturedLogs, refusal, signUp } from "../support/signed-in.js";

const CLIENT: RequestClient = { ip: "203.0.113.50", userAgent: "Codes/2.0" };
/** Codes as often as a test asks for them. */
const UNLIMITED = { OTP_RESEND_INTERVAL: "0s", OTP_MAX_PER_PHONE_PER_HOUR: "1000", OTP_MAX_PER_IP_PER_HOUR: "1000" };

/** A code of the same length that is not `code`. */
function wrong(code: string): string {
  return String((Number(code) + 1) % 10 ** code.length).padStart(code.length, "0");
}

/** The events of `types`, oldest first. */
function eventsOf(lab: CoreLab, ...types: string[]): AuditEvent[] {
  return lab.stores.admin.auditEvents().filter((e) => types.includes(e.type));
}

async function send(lab: CoreLab, phone: string, purpose: "register" | "login", client: RequestClient = CLIENT): Promise<string> {
  await sendOtp(lab.deps, { phone, purpose, client, locale: "en" });
  return lab.sms.codeFor(phone, purpose);
}

describe("otp.sent", () => {
  it("records a code sent to a number without a user: no user, actor system, the purpose and the provider", async () => {
    const lab = await coreLab();
    const phone = freshPhone().e164;
    await send(lab, phone, "register");
    expect(eventsOf(lab, "otp.sent")).toEqual([
      { id: expect.any(String), at: new Date(lab.clock.now()), type: "otp.sent", userId: null, sessionId: null, actor: "system", ip: CLIENT.ip, userAgent: CLIENT.userAgent, details: { purpose: "register", provider: "test-outbox" } },
    ]);
  });

  it("records a code sent to a registered number as about its user, in their name", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    await send(lab, user.phone, "login");
    expect(eventsOf(lab, "otp.sent")).toEqual([expect.objectContaining({ userId: user.id, actor: `user:${user.id}`, details: { purpose: "login", provider: "test-outbox" } })]);
  });

  it("records nothing for a send that failed or was refused, and never the code", async () => {
    const lab = await coreLab({ env: UNLIMITED });
    const { user } = await signUp(lab);
    lab.sms.failWith(new UnavailableError("sms", "provider down"));
    expect(await refusal(sendOtp(lab.deps, { phone: user.phone, purpose: "login", client: CLIENT, locale: "en" }))).toBe("sms_unavailable");
    lab.sms.failWith(undefined);
    expect(await refusal(sendOtp(lab.deps, { phone: user.phone, purpose: "register", client: CLIENT, locale: "en" }))).toBe("phone_already_registered");
    expect(eventsOf(lab, "otp.sent")).toEqual([]);
    const code = await send(lab, user.phone, "login");
    expect(JSON.stringify(lab.stores.admin.auditEvents())).not.toContain(code);
  });

  it("answers the send even when the trail cannot be written, and says so in the log without the code", async () => {
    const lab = await coreLab();
    const logs = capturedLogs(lab);
    lab.deps.audit = { ...lab.deps.audit, append: () => Promise.reject(new UnavailableError("database", "connection refused")) };
    const phone = freshPhone().e164;
    const result = await sendOtp(lab.deps, { phone, purpose: "register", client: CLIENT, locale: "en" });
    expect(result.expiresInSeconds).toBeGreaterThan(0);
    expect(logs).toEqual([expect.objectContaining({ level: 40, msg: "audit event not recorded", types: ["otp.sent"] })]);
    expect(JSON.stringify(logs)).not.toContain(lab.sms.codeFor(phone, "register"));
  });
});

describe("user.login_failed", () => {
  it("records a wrong, an exhausted and an expired login code for a registered phone, each with its reason, in the user's name", async () => {
    const lab = await coreLab({ env: { ...UNLIMITED, OTP_MAX_ATTEMPTS: "2" } });
    const { user } = await signUp(lab);
    const code = await send(lab, user.phone, "login");
    const attempt = (typed: string) => login(lab.deps, { phone: user.phone, code: typed, client: CLIENT });
    expect(await refusal(attempt(wrong(code)))).toBe("otp_invalid");
    expect(await refusal(attempt(wrong(code)))).toBe("otp_attempts_exceeded");
    expect(await refusal(attempt(code))).toBe("otp_attempts_exceeded");
    lab.clock.advance(lab.config.otp.ttlMs);
    expect(await refusal(attempt(code))).toBe("otp_expired");

    const about = { userId: user.id, sessionId: null, actor: `user:${user.id}`, ip: CLIENT.ip, userAgent: CLIENT.userAgent, type: "user.login_failed" };
    expect(eventsOf(lab, "user.login_failed")).toEqual(
      ["otp_invalid", "otp_attempts_exceeded", "otp_attempts_exceeded", "otp_expired"].map((reason) => ({ ...about, id: expect.any(String), at: expect.any(Date), details: { reason } })),
    );
    expect(JSON.stringify(lab.stores.admin.auditEvents())).not.toContain(code);
  });

  it("records nothing for a number without a user, a registration code or a malformed code", async () => {
    const lab = await coreLab({ env: { ...UNLIMITED, ENUMERATION_PROTECTION: "true" } });
    const stranger = freshPhone().e164;
    const code = await send(lab, stranger, "login");
    expect(await refusal(login(lab.deps, { phone: stranger, code: wrong(code), client: CLIENT }))).toBe("otp_invalid");

    const { user } = await signUp(lab);
    const registration = await send(lab, user.phone, "register");
    expect(await refusal(register(lab.deps, { phone: user.phone, code: wrong(registration), firstName: "A", lastName: "B", client: CLIENT }))).toBe("otp_invalid");
    expect(await refusal(login(lab.deps, { phone: user.phone, code: "12", client: CLIENT }))).toBe("validation_error");
    expect(eventsOf(lab, "user.login_failed", "user.locked_out")).toEqual([]);
  });

  it("still answers the refusal's own reason when the trail cannot be written", async () => {
    const lab = await coreLab();
    const { user } = await signUp(lab);
    const code = await send(lab, user.phone, "login");
    const logs = capturedLogs(lab);
    lab.deps.audit = { ...lab.deps.audit, append: () => Promise.reject(new UnavailableError("database", "connection refused")) };
    expect(await refusal(login(lab.deps, { phone: user.phone, code: wrong(code), client: CLIENT }))).toBe("otp_invalid");
    expect(logs).toEqual([expect.objectContaining({ level: 40, msg: "audit event not recorded", types: ["user.login_failed"] })]);
    expect(JSON.stringify(logs)).not.toContain(wrong(code));
  });
});

describe("user.locked_out", () => {
  /** Sends a login code from `ip` and types `count` wrong ones from there. */
  async function guess(lab: CoreLab, phone: string, ip: string, count: number): Promise<void> {
    const client = { ip, userAgent: "Guesser/1.0" };
    const code = await send(lab, phone, "login", client);
    for (let i = 0; i < count; i++) await refusal(login(lab.deps, { phone, code: wrong(code), client }));
  }

  it("records the per-phone lock once when it engages, by the service, from the client whose failure engaged it", async () => {
    const lab = await coreLab({ env: UNLIMITED });
    const { user } = await signUp(lab);
    const perCode = lab.config.otp.maxAttempts;
    const addresses = Array.from({ length: MAX_FAILURES_PER_PHONE / perCode }, (_, i) => `198.51.100.${i + 1}`);
    for (const ip of addresses) await guess(lab, user.phone, ip, perCode);
    // Locked for everyone now: later tries are refused before any code is checked.
    expect(await refusal(login(lab.deps, { phone: user.phone, code: "123456", client: CLIENT }))).toBe("rate_limited");

    const locked = eventsOf(lab, "user.locked_out");
    expect(locked).toEqual([
      { id: expect.any(String), at: new Date(lab.clock.now()), type: "user.locked_out", userId: user.id, sessionId: null, actor: "system", ip: addresses.at(-1), userAgent: "Guesser/1.0", details: { retry_after: 3600 } },
    ]);
    // Right after the failure it followed.
    const failures = eventsOf(lab, "user.login_failed");
    expect(failures).toHaveLength(MAX_FAILURES_PER_PHONE);
    expect(Number(locked[0]!.id)).toBe(Number(failures.at(-1)!.id) + 1);
  });

  it("records a lock engaged by registration codes for a registered number (ENUMERATION_PROTECTION), and none for a number without a user", async () => {
    const lab = await coreLab({ env: { ...UNLIMITED, ENUMERATION_PROTECTION: "true" } });
    const { user } = await signUp(lab);
    const stranger = freshPhone().e164;
    for (const phone of [user.phone, stranger]) {
      for (let i = 0; i < MAX_FAILURES_PER_PHONE / 5; i++) {
        const client = { ip: `192.0.2.${i + 1}`, userAgent: null };
        const code = await send(lab, phone, "register", client);
        for (let n = 0; n < 5; n++) await refusal(register(lab.deps, { phone, code: wrong(code), firstName: "A", lastName: "B", client }));
      }
    }
    expect(eventsOf(lab, "user.locked_out", "user.login_failed").map((e) => [e.type, e.userId])).toEqual([["user.locked_out", user.id]]);
  });
});
