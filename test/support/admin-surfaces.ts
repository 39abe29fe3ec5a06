/**
 * The staff operations on every public surface: AdminService over gRPC (the grpc-js
 * server) and the Connect protocol (the bridge), and the `/api/admin/...` routes.
 * Each answer is read into one shape, and each refusal thrown as a `Refusal`
 * (surfaces.ts), so a suite checks a sentence the same way on all three.
 */
import type { MessageShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { AdminService, type AdminUserSchema } from "../../gen/identity/v1/admin_pb.js";
import type { AuditEventSchema } from "../../gen/identity/v1/audit_pb.js";
import { apiData, rpcRefusal, type SurfaceName } from "./surfaces.js";
import { CLIENT_IDLE_TIMEOUT_MS } from "../../src/lib/http-limits.js";

/** Who calls: a Bearer access token, a service's key, or nobody. */
export type Credentials = { access: string } | { apiKey: string } | "anonymous";

/** A user as staff see them. */
export interface SeenUser {
  id: string;
  phone: string;
  firstName: string;
  lastName: string;
  isStaff: boolean;
  isActive: boolean;
  liveSessions: number;
  /** ISO 8601. */
  dateJoined: string;
}

/** An audit event; absent values are null. */
export interface SeenEvent {
  id: string;
  /** ISO 8601, milliseconds. */
  at: string;
  type: string;
  userId: string | null;
  sessionId: string | null;
  actor: string;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
}

export interface UserQuery {
  q?: string;
  phone?: string;
  pageSize?: number;
  pageToken?: string;
}

export interface EventQuery {
  userId?: string;
  type?: string;
  since?: Date;
  pageSize?: number;
  pageToken?: string;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

export interface AdminSurface {
  readonly name: SurfaceName;
  listUsers(as: Credentials, query?: UserQuery): Promise<Page<SeenUser>>;
  getUser(as: Credentials, id: string): Promise<SeenUser>;
  updateUser(as: Credentials, id: string, changes: { isActive?: boolean; isStaff?: boolean }): Promise<SeenUser>;
  /** How many sessions it ended. */
  revokeUserSessions(as: Credentials, id: string): Promise<number>;
  listAuditEvents(as: Credentials, query?: EventQuery): Promise<Page<SeenEvent>>;
}

function headersOf(as: Credentials): Record<string, string> {
  if (as === "anonymous") return {};
  return "access" in as ? { authorization: `Bearer ${as.access}` } : { "x-api-key": as.apiKey };
}

const orNull = (value: string): string | null => (value === "" ? null : value);

function seenUserOf(message: MessageShape<typeof AdminUserSchema> | undefined): SeenUser {
  const user = message?.user;
  if (message === undefined || user === undefined) throw new Error("no user in the answer");
  return {
    id: user.id,
    phone: user.phone,
    firstName: user.firstName,
    lastName: user.lastName,
    isStaff: user.isStaff,
    isActive: message.isActive,
    liveSessions: message.liveSessions,
    dateJoined: user.dateJoined === undefined ? "" : timestampDate(user.dateJoined).toISOString(),
  };
}

function seenEventOf(event: MessageShape<typeof AuditEventSchema>): SeenEvent {
  return {
    id: event.id,
    at: event.at === undefined ? "" : timestampDate(event.at).toISOString(),
    type: event.type,
    userId: orNull(event.userId),
    sessionId: orNull(event.sessionId),
    actor: event.actor,
    ip: orNull(event.ip),
    userAgent: orNull(event.userAgent),
    details: event.details ?? {},
  };
}

/** AdminService clients (to the grpc-js server, or Connect to the bridge): one code path. */
export function rpcAdminSurface(name: "grpc" | "connect", admin: Client<typeof AdminService>): AdminSurface {
  const rpc = <T>(call: Promise<T>): Promise<T> =>
    call.catch((error: unknown) => {
      throw rpcRefusal(name, error);
    });
  const opts = (as: Credentials) => ({ headers: headersOf(as) });
  return {
    name,
    async listUsers(as, query = {}) {
      const answer = await rpc(admin.listUsers({ query: query.q, phone: query.phone, pageSize: query.pageSize, pageToken: query.pageToken }, opts(as)));
      return { items: answer.users.map(seenUserOf), nextPageToken: answer.nextPageToken };
    },
    getUser: async (as, id) => seenUserOf((await rpc(admin.getUser({ id }, opts(as)))).user),
    updateUser: async (as, id, changes) => seenUserOf((await rpc(admin.updateUser({ id, ...changes }, opts(as)))).user),
    revokeUserSessions: async (as, id) => (await rpc(admin.revokeUserSessions({ id }, opts(as)))).revoked,
    async listAuditEvents(as, query = {}) {
      const { since, ...rest } = query;
      const answer = await rpc(admin.listAuditEvents({ ...rest, since: since === undefined ? undefined : timestampFromDate(since) }, opts(as)));
      return { items: answer.events.map(seenEventOf), nextPageToken: answer.nextPageToken };
    },
  };
}

export function grpcAdminSurface(grpcUrl: string): AdminSurface {
  return rpcAdminSurface("grpc", createClient(AdminService, createGrpcTransport({ baseUrl: grpcUrl, idleConnectionTimeoutMs: CLIENT_IDLE_TIMEOUT_MS })));
}

export function connectAdminSurface(bridgeUrl: string): AdminSurface {
  return rpcAdminSurface("connect", createClient(AdminService, createConnectTransport({ baseUrl: bridgeUrl, httpVersion: "1.1" })));
}

/** A user object of `/api/admin/...` JSON (`any`: the JSON as the route answered it). */
function seenUserOfJson(json: any): SeenUser {
  return {
    id: json.id,
    phone: json.phone,
    firstName: json.first_name,
    lastName: json.last_name,
    isStaff: json.is_staff,
    isActive: json.is_active,
    liveSessions: json.live_sessions,
    dateJoined: json.date_joined,
  };
}

function seenEventOfJson(json: any): SeenEvent {
  return { id: json.id, at: json.at, type: json.type, userId: json.user_id, sessionId: json.session_id, actor: json.actor, ip: json.ip, userAgent: json.user_agent, details: json.details };
}

/** `?a=1&b=2` of the parameters given (undefined ones left out). */
function queryString(params: Record<string, string | number | undefined>): string {
  const given = Object.entries(params).filter((entry): entry is [string, string | number] => entry[1] !== undefined);
  return given.length === 0 ? "" : `?${new URLSearchParams(given.map(([k, v]) => [k, String(v)])).toString()}`;
}

export function apiAdminSurface(baseUrl: string): AdminSurface {
  const data = (as: Credentials, method: string, path: string, json?: unknown) => apiData(baseUrl, method, path, { json, headers: headersOf(as) });
  const user = (id: string) => `/api/admin/users/${encodeURIComponent(id)}/`;
  return {
    name: "api",
    async listUsers(as, query = {}) {
      const answer = await data(as, "GET", `/api/admin/users/${queryString({ q: query.q, phone: query.phone, page_size: query.pageSize, page_token: query.pageToken })}`);
      return { items: (answer.users as unknown[]).map(seenUserOfJson), nextPageToken: answer.next_page_token };
    },
    getUser: async (as, id) => seenUserOfJson((await data(as, "GET", user(id))).user),
    async updateUser(as, id, changes) {
      const body = { ...(changes.isActive === undefined ? {} : { is_active: changes.isActive }), ...(changes.isStaff === undefined ? {} : { is_staff: changes.isStaff }) };
      return seenUserOfJson((await data(as, "PATCH", user(id), body)).user);
    },
    revokeUserSessions: async (as, id) => Number((await data(as, "POST", `${user(id)}logout-all/`)).revoked),
    async listAuditEvents(as, query = {}) {
      const params = { user_id: query.userId, type: query.type, since: query.since?.toISOString(), page_size: query.pageSize, page_token: query.pageToken };
      const answer = await data(as, "GET", `/api/admin/audit/${queryString(params)}`);
      return { items: (answer.events as unknown[]).map(seenEventOfJson), nextPageToken: answer.next_page_token };
    },
  };
}
