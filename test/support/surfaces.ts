/**
 * One call on every public surface: raw gRPC (the grpc-js server), the Connect
 * protocol on the bridge, and the /api routes. Each surface offers the same
 * operations; a refusal is thrown as a `Refusal` holding all the caller could read,
 * so a suite checks an answer the same way whichever surface gave it.
 */
import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { AuthService, OtpPurpose } from "../../gen/identity/v1/auth_pb.js";
import { TokenService, type IntrospectResponse, type VerifyResponse } from "../../gen/identity/v1/token_pb.js";
import { CLIENT_IDLE_TIMEOUT_MS } from "../../src/lib/http-limits.js";

export type SurfaceName = "grpc" | "connect" | "api";
export type Purpose = "register" | "login";

export interface Pair {
  access: string;
  refresh: string;
}

/** Verify's answer: a bad token is an answer, not an error. */
export interface Verdict {
  valid: boolean;
  reason: string;
  /** What the answer says of the token; absent when it is refused (nothing of a bad token is echoed). */
  token?: { type: string; userId: string | undefined; expiresAt: number | undefined };
  /** /api only: the 401 / 403 answer that gave the reason. */
  refusal?: Refusal;
}

/** A refusal as the caller saw it, whichever surface it came through. */
export class Refusal extends Error {
  constructor(
    readonly surface: SurfaceName,
    /** The `google.rpc.ErrorInfo` reason, or the envelope's `data.code` ("" when there is none). */
    readonly reason: string,
    /** The gRPC code (grpc, connect) or the HTTP status (api). */
    readonly status: number,
    /** The status message, or the envelope's `message`. */
    readonly text: string,
    /** Everything the caller could read: for /api the whole body. */
    readonly raw: string,
    /** The ErrorInfo metadata (grpc, connect); for /api the envelope's `data` less its code. */
    readonly metadata: Record<string, unknown>,
    /** /api only: the parsed body and the answer's headers. */
    readonly body?: unknown,
    readonly headers?: Headers,
  ) {
    super(`${surface} refused: ${status} ${reason}`);
  }
}

/** What a failed gRPC or Connect call tells its caller: the status and the ErrorInfo (not transport headers). */
export function rpcRefusal(surface: "grpc" | "connect", error: unknown): Refusal {
  const e = ConnectError.from(error);
  const info = e.findDetails(ErrorInfoSchema)[0];
  const metadata = info?.metadata ?? {};
  return new Refusal(surface, info?.reason ?? "", e.code, e.rawMessage, `${e.rawMessage} ${JSON.stringify(metadata)}`, { ...metadata });
}

/** The refusal a call ended in; a call that succeeds fails the test. */
export async function refusalOf(call: Promise<unknown>): Promise<Refusal> {
  let answer: unknown;
  try {
    answer = await call;
  } catch (error) {
    if (error instanceof Refusal) return error;
    throw error;
  }
  throw new Error(`expected a refusal, the call answered ${JSON.stringify(answer, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
}

export interface Surface {
  readonly name: SurfaceName;
  sendOtp(phone: string, purpose: Purpose): Promise<void>;
  register(phone: string, code: string, names?: { firstName: string; lastName: string }): Promise<Pair>;
  login(phone: string, code: string): Promise<Pair>;
  refresh(refresh: string): Promise<Pair>;
  logout(refresh: string): Promise<void>;
  /** How many sessions it ended. */
  logoutAll(access: string): Promise<number>;
  verify(access: string): Promise<Verdict>;
  /** GetProfile, or GET /api/dashboard/, with the token as Bearer. */
  profile(access: string): Promise<{ id: string }>;
  updateProfile(access: string, firstName: string): Promise<void>;
  /** Only gRPC and Connect have it. */
  introspect?(token: string, hint?: "access_token" | "refresh_token"): Promise<IntrospectResponse>;
}

export interface SurfaceOptions {
  /** Sent as Accept-Language on every call; without it the service answers in its default locale. */
  language?: string;
  /** Sent as x-api-key with Introspect. */
  apiKey?: string;
}

const NAMES = { firstName: "Sara", lastName: "Ahmadi" };
const PURPOSE = { register: OtpPurpose.REGISTER, login: OtpPurpose.LOGIN } as const;

function pair(tokens: Pair | undefined): Pair {
  if (tokens === undefined) throw new Error("no tokens in the answer");
  return { access: tokens.access, refresh: tokens.refresh };
}

function verdictOf(answer: VerifyResponse): Verdict {
  const told = answer.tokenType !== "" || answer.user !== undefined || answer.expiresAt !== undefined;
  return {
    valid: answer.valid,
    reason: answer.reason,
    ...(told ? { token: { type: answer.tokenType, userId: answer.user?.id, expiresAt: answer.expiresAt === undefined ? undefined : Number(answer.expiresAt.seconds) } } : {}),
  };
}

/** gRPC clients (to the grpc-js server, or Connect to the bridge): one code path. */
export function rpcSurface(
  name: "grpc" | "connect",
  auth: Client<typeof AuthService>,
  token: Client<typeof TokenService>,
  options: SurfaceOptions = {},
): Surface {
  const language: Record<string, string> = options.language === undefined ? {} : { "accept-language": options.language };
  const opts = (access?: string) => ({ headers: access === undefined ? language : { ...language, authorization: `Bearer ${access}` } });
  const rpc = <T>(call: Promise<T>): Promise<T> =>
    call.catch((error: unknown) => {
      throw rpcRefusal(name, error);
    });
  return {
    name,
    sendOtp: async (phone, purpose) => void (await rpc(auth.sendOtp({ phone, purpose: PURPOSE[purpose] }, opts()))),
    register: async (phone, code, names = NAMES) => pair((await rpc(auth.register({ phone, code, ...names }, opts()))).tokens),
    login: async (phone, code) => pair((await rpc(auth.login({ phone, code }, opts()))).tokens),
    refresh: async (refresh) => pair((await rpc(token.refresh({ refresh }, opts()))).tokens),
    logout: async (refresh) => void (await rpc(auth.logout({ refresh }, opts()))),
    logoutAll: async (access) => (await rpc(auth.logoutAll({}, opts(access)))).revoked,
    verify: async (access) => verdictOf(await rpc(token.verify({ token: access }, opts()))),
    profile: async (access) => ({ id: (await rpc(auth.getProfile({}, opts(access)))).user?.id ?? "" }),
    updateProfile: async (access, firstName) => void (await rpc(auth.updateProfile({ firstName }, opts(access)))),
    introspect: (t, hint) => {
      const headers = { ...language, ...(options.apiKey === undefined ? {} : { "x-api-key": options.apiKey }) };
      return rpc(token.introspect({ token: t, ...(hint === undefined ? {} : { tokenTypeHint: hint }) }, { headers }));
    },
  };
}

export function grpcSurface(grpcUrl: string, options: SurfaceOptions = {}): Surface {
  const transport = createGrpcTransport({ baseUrl: grpcUrl, idleConnectionTimeoutMs: CLIENT_IDLE_TIMEOUT_MS });
  return rpcSurface("grpc", createClient(AuthService, transport), createClient(TokenService, transport), options);
}

export function connectSurface(bridgeUrl: string, options: SurfaceOptions = {}): Surface {
  const transport = createConnectTransport({ baseUrl: bridgeUrl, httpVersion: "1.1" });
  return rpcSurface("connect", createClient(AuthService, transport), createClient(TokenService, transport), options);
}

/** An /api answer as read: `body` is the parsed JSON (undefined when there is none or it is not JSON). */
export interface ApiAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** `any`: the envelope's `data` has a different shape per route, and tests read each. */
  body: any;
}

/** One request to the bridge: a JSON body and a Bearer token if given. */
export async function apiCall(
  baseUrl: string,
  method: string,
  path: string,
  options: { json?: unknown; access?: string; headers?: Record<string, string> } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.json !== undefined) headers["content-type"] = "application/json";
  if (options.access !== undefined) headers.authorization = `Bearer ${options.access}`;
  const response = await fetch(baseUrl + path, { method, headers, body: options.json === undefined ? undefined : JSON.stringify(options.json) });
  const text = await response.text();
  let body: unknown;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined; // a proxy's or a crashed server's page: the status says enough
  }
  return { status: response.status, headers: response.headers, text, body };
}

/** The envelope's `data` of a 2xx answer (`any`, as ApiAnswer's body); anything else is thrown as a Refusal. */
export async function apiData(baseUrl: string, method: string, path: string, options: Parameters<typeof apiCall>[3] = {}): Promise<any> {
  const answer = await apiCall(baseUrl, method, path, options);
  if (answer.status >= 200 && answer.status < 300) return answer.body?.data;
  const { code = "", ...rest } = (answer.body?.data ?? {}) as { code?: string };
  throw new Refusal("api", code, answer.status, answer.body?.message ?? "", answer.text, rest, answer.body, answer.headers);
}

export function apiSurface(baseUrl: string, options: SurfaceOptions = {}): Surface {
  const language: Record<string, string> = options.language === undefined ? {} : { "accept-language": options.language };
  const data = (method: string, path: string, json?: unknown, access?: string): Promise<any> => apiData(baseUrl, method, path, { json, access, headers: language });
  return {
    name: "api",
    sendOtp: async (phone, purpose) => void (await data("POST", "/api/send-otp/", { phone, purpose })),
    register: async (phone, code, names = NAMES) =>
      pair((await data("POST", "/api/register/", { phone, code, first_name: names.firstName, last_name: names.lastName })).tokens),
    login: async (phone, code) => pair((await data("POST", "/api/login/", { phone, code })).tokens),
    refresh: async (refresh) => pair(await data("POST", "/api/token/refresh/", { refresh })),
    logout: async (refresh) => void (await data("POST", "/api/logout/", { refresh })),
    logoutAll: async (access) => Number((await data("POST", "/api/logout-all/", undefined, access)).revoked),
    verify: async (access) => {
      try {
        const told = await data("POST", "/api/token/verify/", { token: access });
        return {
          valid: told.valid === true,
          reason: "",
          token: { type: told.token_type, userId: told.user?.id, expiresAt: told.expires_at === undefined ? undefined : Date.parse(told.expires_at) / 1000 },
        };
      } catch (error) {
        // 401/403 carry the reason a token is bad; anything else is a refusal to answer.
        if (error instanceof Refusal && (error.status === 401 || error.status === 403)) return { valid: false, reason: error.reason, refusal: error };
        throw error;
      }
    },
    profile: async (access) => ({ id: (await data("GET", "/api/dashboard/", undefined, access)).user.id }),
    updateProfile: async (access, firstName) => void (await data("PATCH", "/api/profile/", { first_name: firstName }, access)),
  };
}

/** The three surfaces of one deployment: its gRPC port, and its bridge (Connect and /api). */
export function everySurface(urls: { grpc: string; bridge: string }, options: SurfaceOptions = {}): [Surface, Surface, Surface] {
  return [grpcSurface(urls.grpc, options), connectSurface(urls.bridge, options), apiSurface(urls.bridge, options)];
}
