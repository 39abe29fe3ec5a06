/**
 * Every sentence of DESIGN.md "Staff administration" as a suite, run on each surface
 * of a deployment (test/grpc-admin.test.ts: gRPC; test/bridge-admin.test.ts: Connect
 * and /api): who may call, the user search and its paging, GetUser, UpdateUser
 * (deactivation, account_disabled, reactivation, cannot_modify_self), the sessions'
 * end, and the audit trail's listing. People use the same surface as staff do.
 */
import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminSurface, Credentials, SeenEvent, SeenUser } from "./admin-surfaces.js";
import { freshPhone } from "./phones.js";
import type { SmsInbox } from "./sms-inbox.js";
import { refusalOf, type Pair, type Refusal, type Surface } from "./surfaces.js";

/** SERVICE_API_KEYS of a deployment under test: `desk` has the admin scope, `billing` not. */
export const ADMIN_KEY = "desk-0123456789abcdef0123456789";
export const PLAIN_KEY = "billing-fedcba9876543210fedcba98";
/** The suite's deployment: those keys, and people logging in as often as a test needs
 * (the send limits have their own tests). */
export const ADMIN_ENV = { SERVICE_API_KEYS: `desk:${ADMIN_KEY}:admin,billing:${PLAIN_KEY}`, OTP_RESEND_INTERVAL: "0s", OTP_MAX_PER_PHONE_PER_HOUR: "1000" };

export interface AdminDeployment {
  /** What people use: the same kind of surface as `admin`. */
  people: Surface;
  admin: AdminSurface;
  inbox: SmsInbox;
  close(): Promise<void>;
}

/** A person signed up through the surface: their id, phone (E.164) and first tokens. */
export interface Person {
  id: string;
  phone: string;
  tokens: Pair;
}

const DESK: Credentials = { apiKey: ADMIN_KEY };

/** A refusal's reason and status on the surface it came from (gRPC code, or HTTP status). */
function seen(refusal: Refusal): { reason: string; status: number; field?: unknown } {
  return { reason: refusal.reason, status: refusal.status, ...(refusal.metadata.field === undefined ? {} : { field: refusal.metadata.field }) };
}

/** The gRPC code of a reason and its HTTP status: what each surface answers. */
const STATUS = {
  not_authenticated: [Code.Unauthenticated, 401],
  token_not_valid: [Code.Unauthenticated, 401],
  permission_denied: [Code.PermissionDenied, 403],
  session_revoked: [Code.PermissionDenied, 403],
  account_disabled: [Code.PermissionDenied, 403],
  cannot_modify_self: [Code.FailedPrecondition, 400],
  not_found: [Code.NotFound, 404],
  validation_error: [Code.InvalidArgument, 400],
  invalid_phone: [Code.InvalidArgument, 400],
} as const;

export function describeAdminContract(open: () => Promise<AdminDeployment>): void {
  let d: AdminDeployment;
  beforeAll(async () => {
    d = await open();
  });
  afterAll(async () => {
    await d?.close();
  });

  /** The reason and status `call` was refused with, as this surface says them. */
  async function refused(call: Promise<unknown>, reason: keyof typeof STATUS, field?: string): Promise<void> {
    const [grpc, http] = STATUS[reason];
    const refusal = await refusalOf(call);
    expect(seen(refusal)).toEqual({ reason, status: refusal.surface === "api" ? http : grpc, ...(field === undefined ? {} : { field }) });
  }

  async function signUp(names = { firstName: "Sara", lastName: "Ahmadi" }, phone = freshPhone().e164): Promise<Person> {
    await d.people.sendOtp(phone, "register");
    const tokens = await d.people.register(phone, d.inbox.codeFor(phone, "register"), names);
    return { id: (await d.people.profile(tokens.access)).id, phone, tokens };
  }

  async function logIn(phone: string): Promise<Pair> {
    await d.people.sendOtp(phone, "login");
    return d.people.login(phone, d.inbox.codeFor(phone, "login"));
  }

  /** A person made staff by the desk's key (as the first staff member is made by a service or the CLI). */
  async function staffMember(): Promise<Person & { as: Credentials }> {
    const person = await signUp({ firstName: "Reza", lastName: "Karimi" });
    await d.admin.updateUser(DESK, person.id, { isStaff: true });
    return { ...person, as: { access: person.tokens.access } };
  }

  /** The admin.* events about a user, newest first. */
  async function adminEvents(userId: string): Promise<SeenEvent[]> {
    return (await d.admin.listAuditEvents(DESK, { userId, pageSize: 500 })).items.filter((e) => e.type.startsWith("admin."));
  }

  /** A name no other test's users carry, so a search sees only this test's users. */
  const marker = () => `Q${randomBytes(5).toString("hex")}`;
  const ids = (users: SeenUser[]) => users.map((u) => u.id);

  describe("who may call", () => {
    it("answers no credentials at all with not_authenticated", async () => {
      await refused(d.admin.listUsers("anonymous"), "not_authenticated");
    });

    it("answers a person who is not staff with permission_denied", async () => {
      const person = await signUp();
      await refused(d.admin.listUsers({ access: person.tokens.access }), "permission_denied");
      await refused(d.admin.getUser({ access: person.tokens.access }, person.id), "permission_denied");
    });

    it("answers a bad token with its token reason", async () => {
      await refused(d.admin.listUsers({ access: "not-a-token" }), "token_not_valid");
    });

    it("serves staff, also with a token issued before the promotion (staff is read from the stores, not the token)", async () => {
      const person = await signUp();
      await refused(d.admin.getUser({ access: person.tokens.access }, person.id), "permission_denied");
      await d.admin.updateUser(DESK, person.id, { isStaff: true });
      expect(await d.admin.getUser({ access: person.tokens.access }, person.id)).toMatchObject({ id: person.id, isStaff: true });
    });

    it("refuses a demoted staff member from their next call", async () => {
      const staff = await staffMember();
      await d.admin.listUsers(staff.as, { pageSize: 1 });
      await d.admin.updateUser(DESK, staff.id, { isStaff: false });
      await refused(d.admin.listUsers(staff.as, { pageSize: 1 }), "permission_denied");
    });

    it("refuses a deactivated staff member's token as revoked", async () => {
      const staff = await staffMember();
      await d.admin.updateUser(DESK, staff.id, { isActive: false });
      await refused(d.admin.listUsers(staff.as, { pageSize: 1 }), "session_revoked");
    });

    it("serves a service key with the admin scope; a plain key gets permission_denied, an unknown key not_authenticated", async () => {
      const person = await signUp();
      expect((await d.admin.getUser(DESK, person.id)).id).toBe(person.id);
      await refused(d.admin.getUser({ apiKey: PLAIN_KEY }, person.id), "permission_denied");
      await refused(d.admin.getUser({ apiKey: "nobody-0123456789abcdef" }, person.id), "not_authenticated");
    });
  });

  describe("GetUser", () => {
    it("answers the user with is_active and their live sessions", async () => {
      const staff = await staffMember();
      const person = await signUp({ firstName: "Mina", lastName: "Karimi" });
      await logIn(person.phone);
      const ended = await logIn(person.phone);
      await d.people.logout(ended.refresh);
      expect(await d.admin.getUser(staff.as, person.id)).toEqual({
        id: person.id,
        phone: person.phone,
        firstName: "Mina",
        lastName: "Karimi",
        isStaff: false,
        isActive: true,
        liveSessions: 2,
        dateJoined: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      });
    });

    it("answers an unknown id with not_found and a malformed one with validation_error naming id", async () => {
      await refused(d.admin.getUser(DESK, "00000000-0000-4000-8000-000000000000"), "not_found");
      await refused(d.admin.getUser(DESK, "42"), "validation_error", "id");
    });
  });

  describe("ListUsers", () => {
    it("finds a phone exactly, in any spelling send-otp accepts", async () => {
      const person = await signUp();
      const local = `0${person.phone.slice(3)}`;
      const persianDigits = local.replace(/\d/g, (c) => String.fromCodePoint(0x06f0 + Number(c)));
      for (const phone of [person.phone, local, persianDigits, `0098${person.phone.slice(3)}`]) {
        expect(ids((await d.admin.listUsers(DESK, { phone })).items)).toEqual([person.id]);
      }
      await refused(d.admin.listUsers(DESK, { phone: "12345" }), "invalid_phone", "phone");
    });

    it("finds a phone prefix with or without +, or a part of a first or last name case-insensitively (Latin and Persian)", async () => {
      const name = marker();
      // Numbers of one block of their own: +98935 and three random digits.
      const block = `+98935${String(randomBytes(2).readUInt16BE() % 1000).padStart(3, "0")}`;
      const sara = await signUp({ firstName: "Sara", lastName: `Ahmadi${name}` }, `${block}0001`);
      const persian = await signUp({ firstName: `مریم${name}`, lastName: "احمدی" }, `${block}0002`);
      const find = async (q: string) => ids((await d.admin.listUsers(DESK, { q })).items);

      expect(await find(block)).toEqual([persian.id, sara.id]);
      expect(await find(block.slice(1))).toEqual([persian.id, sara.id]);
      expect(await find(`0${block.slice(3)}`)).toEqual([persian.id, sara.id]);
      expect(await find(`${block}0001`)).toEqual([sara.id]);
      expect(await find(`MADI${name}`.toUpperCase())).toEqual([sara.id]);
      expect(await find(`ahmadi${name.toLowerCase()}`)).toEqual([sara.id]);
      expect(await find(`یم${name}`)).toEqual([persian.id]);
      expect(await find(name)).toEqual([persian.id, sara.id]);
      // Both: every filter holds.
      expect(ids((await d.admin.listUsers(DESK, { q: name, phone: sara.phone })).items)).toEqual([sara.id]);
    });

    it("lists everyone, newest date_joined first, when both are empty; 50 a page unless asked, at most 500", async () => {
      for (let have = (await d.admin.listUsers(DESK, { pageSize: 51 })).items.length; have < 51; have++) await signUp();
      const newest = await signUp();
      const first = await d.admin.listUsers(DESK);
      expect(first.items).toHaveLength(50);
      expect(first.items[0]?.id).toBe(newest.id);
      const joined = first.items.map((u) => Date.parse(u.dateJoined));
      expect(joined).toEqual([...joined].sort((a, b) => b - a));
      expect(first.nextPageToken).not.toBe("");
      expect((await d.admin.listUsers(DESK, { pageSize: 500 })).nextPageToken).toBe("");
      await refused(d.admin.listUsers(DESK, { pageSize: 501 }), "validation_error", "page_size");
      await refused(d.admin.listUsers(DESK, { pageSize: -1 }), "validation_error", "page_size");
    });

    it("pages neither skip nor repeat a user while users are being added", async () => {
      const name = marker();
      const existing: string[] = [];
      for (let i = 0; i < 5; i++) existing.unshift((await signUp({ firstName: name, lastName: `P${i}` })).id);
      const seenIds: string[] = [];
      let pageToken: string | undefined;
      do {
        const page = await d.admin.listUsers(DESK, { q: name, pageSize: 2, pageToken });
        seenIds.push(...ids(page.items));
        pageToken = page.nextPageToken === "" ? undefined : page.nextPageToken;
        await signUp({ firstName: name, lastName: "Newcomer" });
      } while (pageToken !== undefined);
      expect(seenIds).toEqual(existing);
    });

    it("refuses a tampered or forged page token, and one of another query, with validation_error naming page_token", async () => {
      const name = marker();
      for (let i = 0; i < 3; i++) await signUp({ firstName: name, lastName: "T" });
      const { nextPageToken } = await d.admin.listUsers(DESK, { q: name, pageSize: 1 });
      const [place = "", signature = ""] = nextPageToken.split(".");
      const otherPlace = Buffer.from(JSON.stringify({ d: "0", i: "00000000-0000-4000-8000-000000000000" })).toString("base64url");
      const flipped = `${signature.slice(0, -2)}${signature.at(-2) === "A" ? "B" : "A"}${signature.at(-1)}`;
      for (const pageToken of [`${otherPlace}.${signature}`, `${place}.${flipped}`, `${place}.${signature}x`, "garbage", `${nextPageToken}.`]) {
        await refused(d.admin.listUsers(DESK, { q: name, pageSize: 1, pageToken }), "validation_error", "page_token");
      }
      await refused(d.admin.listUsers(DESK, { q: `${name}x`, pageSize: 1, pageToken: nextPageToken }), "validation_error", "page_token");
      await refused(d.admin.listUsers(DESK, { pageSize: 1, pageToken: nextPageToken }), "validation_error", "page_token");
      await refused(d.admin.listAuditEvents(DESK, { pageSize: 1, pageToken: nextPageToken }), "validation_error", "page_token");
      expect((await d.admin.listUsers(DESK, { q: name, pageSize: 1, pageToken: nextPageToken })).items).toHaveLength(1);
    });
  });

  describe("UpdateUser", () => {
    it("deactivating ends every session at once: tokens are refused as revoked, never as account_disabled", async () => {
      const staff = await staffMember();
      const person = await signUp();
      const other = await logIn(person.phone);
      for (const tokens of [person.tokens, other]) expect((await d.people.verify(tokens.access)).valid).toBe(true);

      expect(await d.admin.updateUser(staff.as, person.id, { isActive: false })).toMatchObject({ id: person.id, isActive: false, liveSessions: 0 });
      for (const tokens of [person.tokens, other]) {
        expect((await d.people.verify(tokens.access)).reason).toBe("session_revoked");
        expect(["session_revoked", "token_blacklisted"]).toContain((await refusalOf(d.people.refresh(tokens.refresh))).reason);
        expect((await refusalOf(d.people.profile(tokens.access))).reason).toBe("session_revoked");
      }
    });

    it("then send-otp (login) and login answer account_disabled before any code is sent or checked; a code sent before stays live", async () => {
      const person = await signUp();
      await d.people.sendOtp(person.phone, "login");
      const code = d.inbox.codeFor(person.phone, "login");
      await d.admin.updateUser(DESK, person.id, { isActive: false });
      const sent = d.inbox.received.length;
      await refused(d.people.sendOtp(person.phone, "login"), "account_disabled");
      expect(d.inbox.received.length).toBe(sent);
      await refused(d.people.login(person.phone, code), "account_disabled");

      // is_active=true lets them log in again (with that very code); old sessions stay dead.
      expect(await d.admin.updateUser(DESK, person.id, { isActive: true })).toMatchObject({ isActive: true, liveSessions: 0 });
      const again = await d.people.login(person.phone, code);
      expect((await d.people.verify(again.access)).valid).toBe(true);
      expect((await d.people.verify(person.tokens.access)).reason).toBe("session_revoked");
      expect((await d.admin.getUser(DESK, person.id)).liveSessions).toBe(1);
    });

    it("grants and takes staff, changing only the flags given, and records each change with its actor and new values", async () => {
      const staff = await staffMember();
      const person = await signUp();
      expect(await d.admin.updateUser(staff.as, person.id, { isStaff: true })).toMatchObject({ isStaff: true, isActive: true, liveSessions: 1 });
      expect(await d.admin.updateUser(DESK, person.id, { isStaff: false, isActive: true })).toMatchObject({ isStaff: false, isActive: true });
      expect(await d.admin.updateUser(DESK, person.id, {})).toMatchObject({ isStaff: false, isActive: true, liveSessions: 1 });
      expect((await d.people.verify(person.tokens.access)).valid).toBe(true);
      const events = await adminEvents(person.id);
      expect(events.map((e) => [e.type, e.actor, e.details])).toEqual([
        ["admin.user_updated", "service:desk", { is_active: true, is_staff: false }],
        ["admin.user_updated", `staff:${staff.id}`, { is_staff: true }],
      ]);
      expect(events[1]).toMatchObject({ userId: person.id, sessionId: null, ip: expect.any(String) });
    });

    it("refuses staff changing their own active or staff flag with cannot_modify_self, changing and recording nothing", async () => {
      const staff = await staffMember();
      const before = await adminEvents(staff.id);
      await refused(d.admin.updateUser(staff.as, staff.id, { isActive: false }), "cannot_modify_self");
      await refused(d.admin.updateUser(staff.as, staff.id.toUpperCase(), { isStaff: false }), "cannot_modify_self");
      expect(await d.admin.getUser(staff.as, staff.id)).toMatchObject({ isActive: true, isStaff: true, liveSessions: 1 });
      expect(await adminEvents(staff.id)).toEqual(before);
    });

    it("answers an unknown id with not_found and a malformed one with validation_error, recording nothing", async () => {
      const unknown = "00000000-0000-4000-8000-00000000abcd";
      await refused(d.admin.updateUser(DESK, unknown, { isActive: false }), "not_found");
      await refused(d.admin.updateUser(DESK, "not-a-uuid", { isActive: false }), "validation_error", "id");
      expect(await adminEvents(unknown)).toEqual([]);
    });
  });

  describe("RevokeUserSessions", () => {
    it("ends every session of the user at once and counts them; the account stays active", async () => {
      const staff = await staffMember();
      const person = await signUp();
      const other = await logIn(person.phone);
      expect(await d.admin.revokeUserSessions(staff.as, person.id)).toBe(2);
      for (const tokens of [person.tokens, other]) expect((await d.people.verify(tokens.access)).reason).toBe("session_revoked");
      expect(await d.admin.getUser(staff.as, person.id)).toMatchObject({ isActive: true, liveSessions: 0 });
      expect((await d.people.verify((await logIn(person.phone)).access)).valid).toBe(true);
      expect(await d.admin.revokeUserSessions(DESK, person.id)).toBe(1);
      expect((await adminEvents(person.id)).map((e) => [e.type, e.actor, e.details])).toEqual([
        ["admin.sessions_revoked", "service:desk", { revoked: 1 }],
        ["admin.sessions_revoked", `staff:${staff.id}`, { revoked: 2 }],
      ]);
    });

    it("answers an unknown id with not_found and a malformed one with validation_error", async () => {
      await refused(d.admin.revokeUserSessions(DESK, "00000000-0000-4000-8000-000000000000"), "not_found");
      await refused(d.admin.revokeUserSessions(DESK, "x"), "validation_error", "id");
    });
  });

  describe("ListAuditEvents", () => {
    it("lists a user's events newest first, of one type, since an instant (inclusive)", async () => {
      const person = await signUp();
      await logIn(person.phone);
      await d.admin.revokeUserSessions(DESK, person.id);
      const all = (await d.admin.listAuditEvents(DESK, { userId: person.id })).items;
      // (The registration's code went to a number of no user yet: not about them.)
      expect(all.map((e) => e.type)).toEqual(["admin.sessions_revoked", "user.logged_in", "otp.sent", "user.registered"]);
      expect(all.every((e) => e.userId === person.id)).toBe(true);
      const order = all.map((e) => [Date.parse(e.at), Number(e.id)] as const);
      expect(order).toEqual([...order].sort((a, b) => b[0] - a[0] || b[1] - a[1]));

      expect((await d.admin.listAuditEvents(DESK, { userId: person.id, type: "otp.sent" })).items.map((e) => e.id)).toEqual(all.filter((e) => e.type === "otp.sent").map((e) => e.id));
      const loggedIn = all[1]!;
      const since = await d.admin.listAuditEvents(DESK, { userId: person.id, since: new Date(loggedIn.at) });
      expect(since.items.map((e) => e.id)).toEqual(all.filter((e) => Date.parse(e.at) >= Date.parse(loggedIn.at)).map((e) => e.id));
      expect(since.items.map((e) => e.id)).toContain(loggedIn.id);
    });

    it("pages without skipping or repeating while events are added", async () => {
      const person = await signUp();
      for (let i = 0; i < 3; i++) await logIn(person.phone);
      const before = (await d.admin.listAuditEvents(DESK, { userId: person.id, pageSize: 500 })).items.map((e) => e.id);
      const pages: string[] = [];
      let pageToken: string | undefined;
      do {
        const page = await d.admin.listAuditEvents(DESK, { userId: person.id, pageSize: 3, pageToken });
        pages.push(...page.items.map((e) => e.id));
        pageToken = page.nextPageToken === "" ? undefined : page.nextPageToken;
        await logIn(person.phone);
      } while (pageToken !== undefined);
      expect(pages).toEqual(before);
    });

    it("refuses an unknown type, a malformed user_id, a bad page size and another listing's token, naming the field", async () => {
      await refused(d.admin.listAuditEvents(DESK, { type: "user.exploded" }), "validation_error", "type");
      await refused(d.admin.listAuditEvents(DESK, { userId: "nobody" }), "validation_error", "user_id");
      await refused(d.admin.listAuditEvents(DESK, { pageSize: 501 }), "validation_error", "page_size");
      const { nextPageToken } = await d.admin.listAuditEvents(DESK, { pageSize: 1 });
      await refused(d.admin.listAuditEvents(DESK, { pageSize: 1, type: "otp.sent", pageToken: nextPageToken }), "validation_error", "page_token");
      await refused(d.admin.listUsers(DESK, { pageSize: 1, pageToken: nextPageToken }), "validation_error", "page_token");
    });

    it("is for staff only", async () => {
      const person = await signUp();
      await refused(d.admin.listAuditEvents({ access: person.tokens.access }), "permission_denied");
      await refused(d.admin.listAuditEvents({ apiKey: PLAIN_KEY }), "permission_denied");
      await refused(d.admin.listAuditEvents("anonymous"), "not_authenticated");
    });
  });
}
