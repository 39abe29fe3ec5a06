import { describe, expect, it } from "vitest";
import { otpKeys } from "../../../src/core/otp/keys.js";

const PHONE = "+989121234567";
const IP = "203.0.113.7";

describe("otpKeys", () => {
  it("keeps a phone's keys under the phone's hash tag, and an address's under the address's", () => {
    expect([
      otpKeys.code(PHONE, "register"),
      otpKeys.code(PHONE, "login"),
      otpKeys.resend(PHONE, "register"),
      otpKeys.resend(PHONE, "login"),
      otpKeys.phoneSends(PHONE),
      otpKeys.phoneFailures(PHONE),
      otpKeys.phoneLock(PHONE),
      otpKeys.pairLock(PHONE, IP),
      otpKeys.pairLocks(PHONE, IP),
    ]).toEqual([
      "{p:+989121234567}:otp:register",
      "{p:+989121234567}:otp:login",
      "{p:+989121234567}:resend:register",
      "{p:+989121234567}:resend:login",
      "{p:+989121234567}:sends",
      "{p:+989121234567}:wrong",
      "{p:+989121234567}:lock",
      "{p:+989121234567}:lock:203.0.113.7",
      "{p:+989121234567}:locks:203.0.113.7",
    ]);
    expect([otpKeys.ipSends(IP), otpKeys.ipFailures(IP), otpKeys.ipLock(IP), otpKeys.ipLocks(IP)]).toEqual([
      "{ip:203.0.113.7}:sends",
      "{ip:203.0.113.7}:fails",
      "{ip:203.0.113.7}:lock",
      "{ip:203.0.113.7}:locks",
    ]);
  });
});
