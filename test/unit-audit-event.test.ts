/**
 * An audit event on its way out: the domain's event → the AuditEvent message
 * (gRPC, Connect) → the JSON of the /api routes. What an event lacks is "" in the
 * message (proto3) and null in JSON; details travel as a google.protobuf.Struct.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { auditEventJson } from "../bridge/api/json.js";
import type { AuditEvent } from "../src/core/ports/audit.js";
import { auditEventMessage } from "../src/rpc/convert.js";
import { AuditEventSchema } from "../gen/identity/v1/audit_pb.js";

const FULL: AuditEvent = {
  id: "42",
  at: new Date("2026-03-04T05:06:07.089Z"),
  type: "session.logged_out_all",
  userId: "0b0f5d3e-8d4c-4f55-9a43-1f6f0c1b2a3d",
  sessionId: "s3ss10n",
  actor: "user:0b0f5d3e-8d4c-4f55-9a43-1f6f0c1b2a3d",
  ip: "203.0.113.7",
  userAgent: "Mozilla/5.0 (X11; Linux x86_64)",
  details: { revoked: 3, fields: ["first_name", "last_name"], nested: { ok: true, none: null } },
};

/** The message as a client receives it: through the wire format and back. */
function overTheWire(event: AuditEvent) {
  return fromBinary(AuditEventSchema, toBinary(AuditEventSchema, create(AuditEventSchema, auditEventMessage(event))));
}

describe("audit event conversions", () => {
  it("carries every field to the message and to JSON, at with milliseconds, details as they were", () => {
    const message = overTheWire(FULL);
    expect(message).toMatchObject({ id: "42", type: "session.logged_out_all", userId: FULL.userId, sessionId: "s3ss10n", actor: FULL.actor, ip: "203.0.113.7", userAgent: FULL.userAgent });
    expect(auditEventJson(message)).toEqual({
      id: "42",
      at: "2026-03-04T05:06:07.089Z",
      type: "session.logged_out_all",
      user_id: FULL.userId,
      session_id: "s3ss10n",
      actor: FULL.actor,
      ip: "203.0.113.7",
      user_agent: FULL.userAgent,
      details: { revoked: 3, fields: ["first_name", "last_name"], nested: { ok: true, none: null } },
    });
  });

  it("says what an event lacks as \"\" in the message and null in JSON, and empty details as {}", () => {
    const bare: AuditEvent = { ...FULL, type: "otp.sent", userId: null, sessionId: null, actor: "system", ip: null, userAgent: null, details: {} };
    const message = overTheWire(bare);
    expect(message).toMatchObject({ userId: "", sessionId: "", ip: "", userAgent: "" });
    expect(auditEventJson(message)).toMatchObject({ user_id: null, session_id: null, actor: "system", ip: null, user_agent: null, details: {} });
    // A message whose details were never set (another server, an old one) reads as {}.
    expect(auditEventJson(create(AuditEventSchema, { id: "1" })).details).toEqual({});
  });

  it("leaves out of details what JSON cannot hold, instead of failing the listing", () => {
    const odd: AuditEvent = { ...FULL, details: { nan: Number.NaN, gone: undefined, fn: () => 1, list: [1, undefined, "a"], kept: "yes" } };
    expect(auditEventJson(overTheWire(odd)).details).toEqual({ list: [1, "a"], kept: "yes" });
  });
});
