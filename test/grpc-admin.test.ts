/**
 * Staff administration over gRPC (the grpc-js server): every sentence of the
 * suite (test/support/admin-suite.ts) on real PostgreSQL + Redis, and what only a
 * deployment of several instances or other settings shows.
 */
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../gen/identity/v1/admin_pb.js";
import { grpcAdminSurface } from "./support/admin-surfaces.js";
import { ADMIN_ENV, ADMIN_KEY, PLAIN_KEY, describeAdminContract } from "./support/admin-suite.js";
import { bearer, failure, freshStores, loginUser, OtpPurpose, registerUser, startService, twoInstances, type Service, type Stores, type TwoInstances } from "./support/grpc-harness.js";
import { freshPhone } from "./support/phones.js";
import { realStoresAvailable } from "./support/services.js";
import { grpcSurface } from "./support/surfaces.js";

describe.runIf(realStoresAvailable())("AdminService over gRPC", () => {
  describeAdminContract(async () => {
    const stores = await freshStores("real");
    const service = await startService(stores, { env: ADMIN_ENV });
    const url = `http://127.0.0.1:${service.port}`;
    return {
      people: grpcSurface(url),
      admin: grpcAdminSurface(url),
      inbox: service.sms,
      async close() {
        await service.stop();
        await stores.drop();
      },
    };
  });
});

describe.runIf(realStoresAvailable())("AdminService across instances and settings", () => {
  let pair: TwoInstances;
  beforeAll(async () => {
    pair = await twoInstances(ADMIN_ENV);
  });
  afterAll(async () => {
    await pair?.close();
  });

  const desk = { headers: { "x-api-key": ADMIN_KEY } };
  const adminOf = (service: Service) => createClient(AdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));

  it("a deactivation on one instance is refused by Verify on another at once, and its send-otp answers account_disabled there", async () => {
    const { phone, user, tokens } = await registerUser(pair.a);
    // Known live to the other instance first: what it holds must not outlive the change.
    expect((await pair.b.token.verify({ token: tokens.access })).valid).toBe(true);
    await adminOf(pair.a).updateUser({ id: user.id, isActive: false }, desk);
    expect(await pair.b.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await failure(pair.b.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN }))).toMatchObject({ code: Code.PermissionDenied, reason: "account_disabled" });
    // Reactivated there, a login here works.
    await adminOf(pair.b).updateUser({ id: user.id, isActive: true }, desk);
    const again = await loginUser(pair.a, phone);
    expect((await pair.b.token.verify({ token: again.tokens.access })).valid).toBe(true);
  });

  it("a demotion on one instance is refused by the other on the next call", async () => {
    const { user, tokens } = await registerUser(pair.a);
    await adminOf(pair.a).updateUser({ id: user.id, isStaff: true }, desk);
    await adminOf(pair.b).listUsers({ pageSize: 1 }, bearer(tokens.access));
    await adminOf(pair.a).updateUser({ id: user.id, isStaff: false }, desk);
    expect(await failure(adminOf(pair.b).listUsers({ pageSize: 1 }, bearer(tokens.access)))).toMatchObject({ code: Code.PermissionDenied, reason: "permission_denied" });
  });

  it("an admin key may call Introspect too, as a plain key may", async () => {
    const { tokens } = await registerUser(pair.a);
    for (const key of [ADMIN_KEY, PLAIN_KEY]) {
      expect(await pair.a.token.introspect({ token: tokens.access }, { headers: { "x-api-key": key } })).toMatchObject({ active: true });
    }
  });
});

describe.runIf(realStoresAvailable())("account_disabled under ENUMERATION_PROTECTION", () => {
  let stores: Stores;
  let service: Service;
  beforeAll(async () => {
    stores = await freshStores("real");
    service = await startService(stores, { env: { ...ADMIN_ENV, ENUMERATION_PROTECTION: "true" } });
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  it("sends a deactivated user a login code as anyone gets one; login tells only once the code is verified", async () => {
    const admin = createClient(AdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
    const { phone, user } = await registerUser(service);
    await admin.updateUser({ id: user.id, isActive: false }, { headers: { "x-api-key": ADMIN_KEY } });
    const unknown = freshPhone().e164;
    const answers = [await service.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN }), await service.auth.sendOtp({ phone: unknown, purpose: OtpPurpose.LOGIN })];
    expect(answers[0]).toEqual(answers[1]);
    const code = service.sms.codeFor(phone, "login");
    const wrong = code === "000000" ? "111111" : "000000";
    expect(await failure(service.auth.login({ phone, code: wrong }))).toMatchObject({ code: Code.InvalidArgument, reason: "otp_invalid" });
    expect(await failure(service.auth.login({ phone, code }))).toMatchObject({ code: Code.PermissionDenied, reason: "account_disabled" });
    expect(await failure(service.auth.login({ phone: unknown, code: service.sms.codeFor(unknown, "login") }))).toMatchObject({ reason: "phone_not_registered" });
  });
});

describe("staff administration on the embedded default", () => {
  let stores: Stores;
  let service: Service;
  beforeAll(async () => {
    stores = await freshStores("embedded");
    service = await startService(stores, { env: ADMIN_ENV });
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  it("finds, deactivates and reactivates a user, and lists what happened", async () => {
    const admin = createClient(AdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
    const desk = { headers: { "x-api-key": ADMIN_KEY } };
    const { phone, user, tokens } = await registerUser(service, freshPhone().e164, { firstName: "Zahra", lastName: "Hosseini" });
    const found = await admin.listUsers({ query: "hossein" }, desk);
    expect(found.users.map((u) => [u.user?.id, u.isActive, u.liveSessions])).toEqual([[user.id, true, 1]]);

    await admin.updateUser({ id: user.id, isActive: false }, desk);
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await failure(service.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN }))).toMatchObject({ reason: "account_disabled" });
    await admin.updateUser({ id: user.id, isActive: true }, desk);
    await loginUser(service, phone);

    const { events } = await admin.listAuditEvents({ userId: user.id, type: "admin.user_updated" }, desk);
    expect(events.map((e) => [e.actor, e.details])).toEqual([
      ["service:desk", { is_active: true }],
      ["service:desk", { is_active: false }],
    ]);
  });
});
