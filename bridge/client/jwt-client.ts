/**
 * The browser client of the identity service's `/api` (see DESIGN.md, "HTTP
 * bridge"). Built to `/static/js/jwt-client.js` (a plain script setting
 * `window.jwtClient`) and `/static/js/jwt-client.mjs` (an ES module exporting
 * `createJwtClient`).
 *
 * - Tokens persist in localStorage and follow other tabs (the `storage` event):
 *   a login, refresh or logout in one tab is seen by every tab.
 * - The access token is refreshed in the background shortly before it expires;
 *   one refresh at a time per tab, and across tabs through Web Locks where the
 *   browser has them (elsewhere the server's refresh-reuse grace covers the race).
 * - A request answered 401 is retried once after a refresh; a refused refresh,
 *   or a 403 `token_blacklisted` / `session_revoked`, ends the local session and
 *   tells the `onAuthChange` listeners. A network failure never does.
 * - Ending this client's own session from the session list is a logout.
 * - Where the browser has WebOTP, `readOtpFromSms` reads the code from the SMS.
 */

import { NETWORK_MESSAGES } from "./network-message.js";
import { readSmsCode, webOtpSupported } from "./web-otp.js";

export interface User {
  id: string;
  phone: string;
  first_name: string;
  last_name: string;
  is_staff: boolean;
  date_joined: string | null;
  last_login: string | null;
}

export interface Tokens {
  access: string;
  refresh: string;
  access_expires_at: string;
  refresh_expires_at: string;
}

/** Every answer of `/api`. */
export interface Envelope<T = Record<string, unknown>> {
  success: boolean;
  message: string;
  data: T;
}

export type OtpPurpose = "register" | "login";

/** A live session of the user: one login and the refreshes that followed it. */
export interface Session {
  id: string;
  created_at: string;
  /** The last login or refresh (using an access token does not count). */
  last_used_at: string;
  /** When it ends at the latest. */
  expires_at: string;
  /** The client's IP and User-Agent at its last login or refresh; null if not recorded. */
  ip: string | null;
  user_agent: string | null;
  /** Whether it is this client's own session. */
  current: boolean;
}

/** One entry of the user's recent security activity (the audit trail). */
export interface AuditEvent {
  id: string;
  at: string;
  /** `user.logged_in`, `session.revoked`, … (DESIGN.md, "Audit trail"). */
  type: string;
  /** The user and session it concerns; null if none. */
  user_id: string | null;
  session_id: string | null;
  /** Who did it: `user:<id>`, `staff:<id>`, `service:<name>` or `system`. */
  actor: string;
  /** The client of the request that made the change; null if none (e.g. the CLI). */
  ip: string | null;
  user_agent: string | null;
  /** A small object whose members depend on `type` (e.g. `revoked`, a count). */
  details: Record<string, unknown>;
}

/** Why the authentication state changed. */
export type AuthChangeReason =
  /** A login or registration, here or in another tab. */
  | "login"
  /** New tokens for the same session. */
  | "refresh"
  /** A newer copy of the user (profile read or changed). */
  | "user"
  /** A logout (or logout-all), here or in another tab. */
  | "logout"
  /** The server ended the session: revoked, expired, or its refresh refused. */
  | "revoked";

export interface AuthChange {
  authenticated: boolean;
  user: User | null;
  reason: AuthChangeReason;
}

/** A refusal from the server (`status` and `code` from the answer), or a network failure (`status` 0). */
export class JwtClientError extends Error {
  readonly status: number;
  readonly code: string;
  readonly data: unknown;

  constructor(message: string, status: number, code: string, data?: unknown) {
    super(message);
    this.name = "JwtClientError";
    this.status = status;
    this.code = code;
    this.data = data;
  }
}

export type ApiRequestInit = Omit<RequestInit, "body"> & {
  /** A plain object is sent as JSON. Bodies are sent twice when a 401 is retried, so no streams. */
  body?: BodyInit | Record<string, unknown> | null;
};

export interface JwtClientOptions {
  /** Where `/api` is. Default `/api` on this page's origin. */
  baseUrl?: string;
  /** Where the session is kept. Default `localStorage`; `null` keeps it in memory only. */
  storage?: Storage | null;
  /** The storage key. Default `jwt-client.session`. */
  storageKey?: string;
  /** Sent as Accept-Language (`fa` or `en`); default: the browser's. */
  language?: string;
  /** How long before the access token expires to refresh it. Default: a fifth of its lifetime, at most a minute. */
  refreshMarginMs?: number;
  fetch?: typeof fetch;
}

export interface ReadOtpOptions {
  /** Stops waiting (the person typed the code, or left): the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
}

export interface JwtClient {
  sendOTP(phone: string, purpose: OtpPurpose): Promise<Envelope<{ expires_in: number; resend_after: number; code_length: number }>>;
  register(phone: string, code: string, firstName?: string, lastName?: string): Promise<Envelope<{ user: User; tokens: Tokens }>>;
  login(phone: string, code: string): Promise<Envelope<{ user: User; tokens: Tokens }>>;
  /** `fetch` of a path under `/api` with the Bearer token; refreshes and retries once on 401. */
  apiRequest(path: string, init?: ApiRequestInit): Promise<Response>;
  refreshToken(): Promise<Envelope<Tokens>>;
  logout(): Promise<Envelope<Record<string, never>>>;
  logoutAll(): Promise<Envelope<{ revoked: number }>>;
  /** The user's live sessions, the most recently used first. */
  listSessions(): Promise<Envelope<{ sessions: Session[] }>>;
  /** Ends one of the user's sessions; ending this client's own is a logout. */
  revokeSession(id: string): Promise<Envelope<{ revoked: true }>>;
  /** Ends every session of the user but this client's. */
  logoutOthers(): Promise<Envelope<{ revoked: number }>>;
  /** The user's 50 newest security events, newest first. */
  getActivity(): Promise<Envelope<{ events: AuditEvent[] }>>;
  isAuthenticated(): boolean;
  getUserData(): User | null;
  /** Calls `listener` on every change of the authentication state; returns a function that stops it. */
  onAuthChange(listener: (change: AuthChange) => void): () => void;
  /** The language of the server's messages from now on (`fa`, `en`), or `null` for the browser's. */
  setLanguage(language: string | null): void;
  /** When the current access token expires (by this browser's clock), or `null`. */
  accessExpiresAt(): Date | null;
  /** Whether this browser can read codes from SMS (the WebOTP API), for `readOtpFromSms`. */
  readonly supportsWebOtp: boolean;
  /**
   * Waits for the SMS the last `sendOTP` sent and resolves its code, once the person
   * agrees (WebOTP: the SMS must end with `@<this page's host> #<code>`, which the
   * service adds with SMS_WEBOTP_DOMAIN). Rejects with a `NotSupportedError`
   * DOMException where the browser has no WebOTP (`supportsWebOtp` is false), an
   * `AbortError` when `signal` aborts. Abort it when the person types the code.
   */
  readOtpFromSms(options?: ReadOtpOptions): Promise<string>;
}

declare global {
  interface Window {
    /** Set by `/static/js/jwt-client.js`. */
    jwtClient?: JwtClient;
  }
}

/** The tokens this client holds (what localStorage keeps). */
interface Held {
  access: string;
  refresh: string;
  accessExpiresAt: string;
  refreshExpiresAt: string;
  /** When the access token expires by this browser's clock (its lifetime counted from receipt). */
  localExpiresAt: number;
  lifetimeMs: number;
  user: User | null;
}

const LOCK_NAME = "jwt-client.refresh";
const LOCK_LINGER_MS = 100;
const MAX_TIMER_MS = 2_000_000_000;
const RETRY_AFTER_FAILURE_MS = 5_000;
const SESSION_ENDING_CODES = new Set(["token_blacklisted", "session_revoked"]);

export function createJwtClient(options: JwtClientOptions = {}): JwtClient {
  const baseUrl = (options.baseUrl ?? "/api").replace(/\/+$/, "");
  const storage = options.storage === undefined ? defaultStorage() : options.storage;
  const storageKey = options.storageKey ?? "jwt-client.session";
  const fetchImpl = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  let language = options.language ?? null;
  const listeners = new Set<(change: AuthChange) => void>();

  let session: Held | null = null;
  let inflight: Promise<Envelope<Tokens>> | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // False once a write failed (storage full or blocked): from then on this tab's
  // memory is the truth, or the next refresh would find "no session" stored.
  let storageWorks = storage !== null;
  session = readStored();

  // ---- state -------------------------------------------------------------

  function readStored(): Held | null {
    if (storage === null || !storageWorks) return session;
    try {
      const raw = storage.getItem(storageKey);
      return raw === null ? null : parseSession(JSON.parse(raw));
    } catch {
      return null;
    }
  }

  function persist(): void {
    if (storage === null) return;
    try {
      if (session === null) storage.removeItem(storageKey);
      else storage.setItem(storageKey, JSON.stringify(session));
      storageWorks = true;
    } catch {
      // The session still works in this tab; other tabs will not see it.
      storageWorks = false;
    }
  }

  function notify(reason: AuthChangeReason): void {
    const change: AuthChange = { authenticated: session !== null, user: session?.user ?? null, reason };
    for (const listener of [...listeners]) {
      try {
        listener(change);
      } catch (error) {
        console.error("jwtClient: an onAuthChange listener failed", error);
      }
    }
  }

  function adoptTokens(tokens: Tokens, user: User | null, reason: AuthChangeReason): void {
    const receivedAt = Date.now();
    const lifetimeMs = accessLifetimeMs(tokens);
    session = {
      access: tokens.access,
      refresh: tokens.refresh,
      accessExpiresAt: tokens.access_expires_at,
      refreshExpiresAt: tokens.refresh_expires_at,
      localExpiresAt: receivedAt + lifetimeMs,
      lifetimeMs,
      user,
    };
    persist();
    schedule();
    notify(reason);
  }

  function end(reason: AuthChangeReason): void {
    const had = session !== null;
    session = null;
    clearTimeout(timer);
    persist();
    if (had) notify(reason);
  }

  /** Another tab changed the stored session. */
  function follow(next: Held | null): void {
    const previous = session;
    if (next === null) {
      if (previous !== null) end("logout");
      return;
    }
    session = next;
    schedule();
    if (previous !== null && previous.refresh === next.refresh) {
      if (JSON.stringify(previous.user) !== JSON.stringify(next.user)) notify("user");
      return;
    }
    notify(previous !== null && previous.user?.id === next.user?.id ? "refresh" : "login");
  }

  // ---- background refresh -----------------------------------------------

  function marginMs(s: Held): number {
    return options.refreshMarginMs ?? Math.min(60_000, s.lifetimeMs / 5);
  }

  function schedule(delayMs?: number): void {
    clearTimeout(timer);
    if (session === null) return;
    const due = delayMs ?? session.localExpiresAt - marginMs(session) - Date.now();
    timer = setTimeout(backgroundRefresh, Math.min(MAX_TIMER_MS, Math.max(0, due)));
  }

  function backgroundRefresh(): void {
    if (session === null) return;
    refreshSingleFlight().catch((error: unknown) => {
      // Refusals ended the session already; anything else (network, 5xx, 429) is tried again.
      if (session !== null && !sessionIsDead(error)) schedule(retryDelay(error));
    });
  }

  // ---- HTTP ----------------------------------------------------------------

  function url(path: string): string {
    return `${baseUrl}/${path.replace(/^\/+/, "")}`;
  }

  function currentLanguage(): string {
    if (language !== null) return language;
    return typeof navigator === "undefined" ? "en" : navigator.language;
  }

  function networkError(cause: unknown): JwtClientError {
    const lang = currentLanguage().slice(0, 2).toLowerCase();
    const error = new JwtClientError(lang === "fa" ? NETWORK_MESSAGES.fa : NETWORK_MESSAGES.en, 0, "network_error");
    (error as { cause?: unknown }).cause = cause;
    return error;
  }

  async function send(path: string, init: ApiRequestInit, access: string | undefined): Promise<Response> {
    const headers = new Headers(init.headers);
    if (access !== undefined) headers.set("Authorization", `Bearer ${access}`);
    if (language !== null) headers.set("Accept-Language", language);
    let body = init.body;
    if (isPlainObject(body)) {
      body = JSON.stringify(body);
      if (!headers.has("Content-Type")) headers.set("Content-Type", "application/json");
    }
    try {
      return await fetchImpl(url(path), { ...init, headers, body: body as BodyInit | null | undefined });
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw networkError(error);
    }
  }

  async function envelopeOf<T>(response: Response): Promise<Envelope<T>> {
    let parsed: unknown;
    try {
      parsed = await response.json();
    } catch {
      throw new JwtClientError(`Unexpected answer from the server (HTTP ${response.status})`, response.status, "bad_response");
    }
    const envelope = parsed as Partial<Envelope<T & { code?: unknown }>>;
    if (!response.ok || envelope.success !== true) {
      const code = typeof envelope.data?.code === "string" ? envelope.data.code : "error";
      const message = typeof envelope.message === "string" && envelope.message !== "" ? envelope.message : `HTTP ${response.status}`;
      throw new JwtClientError(message, response.status, code, envelope.data);
    }
    return envelope as Envelope<T>;
  }

  function post<T>(path: string, body: Record<string, unknown>): Promise<Envelope<T>> {
    return send(path, { method: "POST", body }, undefined).then((r) => envelopeOf<T>(r));
  }

  // ---- refresh ---------------------------------------------------------------

  function refreshSingleFlight(): Promise<Envelope<Tokens>> {
    if (inflight === null) {
      const wanted = session?.refresh;
      inflight = withRefreshLock(() => refreshNow(wanted)).finally(() => (inflight = null));
    }
    return inflight;
  }

  /** Refreshes `wanted`, unless another tab already did (or ended the session) while we waited. */
  async function refreshNow(wanted: string | undefined): Promise<Envelope<Tokens>> {
    const latest = readStored();
    if (wanted === undefined || latest === null) {
      if (latest === null) end("logout");
      throw notAuthenticated();
    }
    if (latest.refresh !== wanted) {
      follow(latest);
      return { success: true, message: "", data: tokensOf(latest) };
    }
    let envelope: Envelope<Tokens>;
    try {
      envelope = await post<Tokens>("/token/refresh/", { refresh: wanted });
    } catch (error) {
      // Only end the session this refresh was for, not one a login put in its place.
      if (sessionIsDead(error) && session?.refresh === wanted) end("revoked");
      throw error;
    }
    if (session?.refresh === wanted) adoptTokens(envelope.data, session.user, "refresh");
    return envelope;
  }

  function notAuthenticated(): JwtClientError {
    const fa = currentLanguage().toLowerCase().startsWith("fa");
    return new JwtClientError(fa ? "وارد نشده‌اید." : "Not logged in.", 401, "not_authenticated");
  }

  // ---- requests ----------------------------------------------------------------

  async function accessForRequest(): Promise<string | undefined> {
    if (session === null) return undefined;
    if (Date.now() >= session.localExpiresAt) {
      try {
        await refreshSingleFlight();
      } catch (error) {
        if (!sessionIsDead(error)) throw error;
      }
    }
    return session?.access;
  }

  async function apiRequest(path: string, init: ApiRequestInit = {}): Promise<Response> {
    let used = await accessForRequest();
    let response = await send(path, init, used);
    if (response.status === 401 && used !== undefined && session !== null) {
      if (session.access === used) {
        try {
          await refreshSingleFlight();
        } catch (error) {
          if (!sessionIsDead(error)) throw error;
          return response;
        }
      }
      const retryWith: string | undefined = session?.access;
      if (retryWith === undefined) return response;
      used = retryWith;
      response = await send(path, init, used);
    }
    await learnFrom(response, used);
    return response;
  }

  /** Ends the session on a 403 that says it is over; keeps the user object current. */
  async function learnFrom(response: Response, used: string | undefined): Promise<void> {
    if (used === undefined || !(response.headers.get("content-type") ?? "").includes("json")) return;
    if (response.status !== 403 && !response.ok) return;
    let envelope: Partial<Envelope<{ code?: unknown; user?: unknown }>>;
    try {
      envelope = (await response.clone().json()) as typeof envelope;
    } catch {
      return;
    }
    if (session === null || session.access !== used) return;
    if (response.status === 403) {
      if (typeof envelope.data?.code === "string" && SESSION_ENDING_CODES.has(envelope.data.code)) end("revoked");
      return;
    }
    const user = parseUser(envelope.data?.user);
    if (user !== null && user.id === session.user?.id && JSON.stringify(user) !== JSON.stringify(session.user)) {
      session = { ...session, user };
      persist();
      notify("user");
    }
  }

  async function authenticated<T>(method: string, path: string): Promise<Envelope<T>> {
    if (session === null) throw notAuthenticated();
    return envelopeOf<T>(await apiRequest(path, { method }));
  }

  // ---- wiring ------------------------------------------------------------------

  if (typeof window !== "undefined" && storage !== null) {
    window.addEventListener("storage", (event) => {
      if (event.storageArea !== storage || (event.key !== null && event.key !== storageKey)) return;
      follow(readStored());
    });
  }
  if (typeof document !== "undefined") {
    // Timers of hidden tabs are throttled: look again when the tab comes back.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") schedule();
    });
  }
  if (typeof window !== "undefined") window.addEventListener("online", () => schedule());
  schedule();

  return {
    sendOTP: (phone, purpose) => post("/send-otp/", { phone, purpose }),

    async register(phone, code, firstName = "", lastName = "") {
      const envelope = await post<{ user: User; tokens: Tokens }>("/register/", { phone, code, first_name: firstName, last_name: lastName });
      adoptTokens(envelope.data.tokens, envelope.data.user, "login");
      return envelope;
    },

    async login(phone, code) {
      const envelope = await post<{ user: User; tokens: Tokens }>("/login/", { phone, code });
      adoptTokens(envelope.data.tokens, envelope.data.user, "login");
      return envelope;
    },

    apiRequest,

    refreshToken: () => refreshSingleFlight(),

    async logout() {
      const mine = session;
      if (mine === null) return { success: true, message: "", data: {} };
      try {
        return await post<Record<string, never>>("/logout/", { refresh: mine.refresh });
      } finally {
        // The user asked to leave: the local session ends even if the server could not be told.
        end("logout");
      }
    },

    async logoutAll() {
      const envelope = await authenticated<{ revoked: number }>("POST", "/logout-all/");
      end("logout");
      return envelope;
    },

    listSessions: () => authenticated("GET", "/sessions/"),

    async revokeSession(id) {
      const envelope = await authenticated<{ revoked: true }>("DELETE", `/sessions/${encodeURIComponent(id)}/`);
      // Our own session is over on the server (its refreshes keep its `sid`): end it
      // here and, through the storage, in the other tabs, as logout does.
      if (session !== null && sessionIdOf(session.access) === id) end("logout");
      return envelope;
    },

    logoutOthers: () => authenticated("POST", "/logout-others/"),

    getActivity: () => authenticated("GET", "/activity/"),

    isAuthenticated: () => session !== null,

    getUserData: () => (session?.user ? { ...session.user } : null),

    onAuthChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },

    setLanguage(next) {
      language = next;
    },

    accessExpiresAt: () => (session === null ? null : new Date(session.localExpiresAt)),

    get supportsWebOtp() {
      return webOtpSupported();
    },

    readOtpFromSms: (options = {}) => readSmsCode(options.signal),
  };
}

// ---- helpers ---------------------------------------------------------------------

function defaultStorage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null; // Storage disabled (e.g. blocked third-party storage).
  }
}

/**
 * Runs `task` holding the cross-tab refresh lock, where the browser has Web Locks.
 * The caller gets the result at once, but the lock is kept a moment longer:
 * localStorage reaches other tabs asynchronously, and the next tab to get the lock
 * must already see the tokens this one wrote (or it would refresh them again).
 */
function withRefreshLock<T>(task: () => Promise<T>): Promise<T> {
  const locks = typeof navigator === "undefined" ? undefined : navigator.locks;
  if (locks === undefined || typeof locks.request !== "function") return task();
  return new Promise<T>((resolve, reject) => {
    locks
      .request(LOCK_NAME, async () => {
        await task().then(resolve, reject);
        await new Promise((settled) => setTimeout(settled, LOCK_LINGER_MS));
      })
      .catch(reject);
  });
}

/** A refusal that means the session is over (not a network failure, 429 or 5xx). */
function sessionIsDead(error: unknown): boolean {
  return error instanceof JwtClientError && (error.status === 400 || error.status === 401 || error.status === 403);
}

function retryDelay(error: unknown): number {
  const retryAfter = error instanceof JwtClientError ? (error.data as { retry_after?: unknown } | undefined)?.retry_after : undefined;
  return typeof retryAfter === "number" && retryAfter > 0 ? retryAfter * 1000 : RETRY_AFTER_FAILURE_MS;
}

/**
 * The access token's lifetime from its own `iat` and `exp` (both the server's
 * clock), so a browser clock that is off does not matter; counted conservatively
 * (`iat` is rounded down to the second, so a second less).
 */
function accessLifetimeMs(tokens: Tokens): number {
  const claims = jwtClaims(tokens.access);
  if (claims !== null && typeof claims.iat === "number" && typeof claims.exp === "number" && claims.exp > claims.iat) {
    const lifetime = (claims.exp - claims.iat) * 1000;
    return lifetime - Math.min(1000, lifetime / 4);
  }
  return Math.max(0, Date.parse(tokens.access_expires_at) - Date.now());
}

function jwtClaims(token: string): { iat?: unknown; exp?: unknown; sid?: unknown } | null {
  const payload = token.split(".")[1];
  if (payload === undefined) return null;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), "="))) as { iat?: unknown; exp?: unknown; sid?: unknown };
  } catch {
    return null;
  }
}

/** The session an access token belongs to (its `sid` claim). */
function sessionIdOf(access: string): string | null {
  const sid = jwtClaims(access)?.sid;
  return typeof sid === "string" ? sid : null;
}

function tokensOf(s: Held): Tokens {
  return { access: s.access, refresh: s.refresh, access_expires_at: s.accessExpiresAt, refresh_expires_at: s.refreshExpiresAt };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function parseUser(value: unknown): User | null {
  if (typeof value !== "object" || value === null) return null;
  const u = value as Record<string, unknown>;
  if (typeof u.id !== "string" || typeof u.phone !== "string") return null;
  return {
    id: u.id,
    phone: u.phone,
    first_name: typeof u.first_name === "string" ? u.first_name : "",
    last_name: typeof u.last_name === "string" ? u.last_name : "",
    is_staff: u.is_staff === true,
    date_joined: typeof u.date_joined === "string" ? u.date_joined : null,
    last_login: typeof u.last_login === "string" ? u.last_login : null,
  };
}

function parseSession(value: unknown): Held | null {
  if (typeof value !== "object" || value === null) return null;
  const s = value as Record<string, unknown>;
  if (typeof s.access !== "string" || typeof s.refresh !== "string" || typeof s.localExpiresAt !== "number") return null;
  return {
    access: s.access,
    refresh: s.refresh,
    accessExpiresAt: typeof s.accessExpiresAt === "string" ? s.accessExpiresAt : "",
    refreshExpiresAt: typeof s.refreshExpiresAt === "string" ? s.refreshExpiresAt : "",
    localExpiresAt: s.localExpiresAt,
    lifetimeMs: typeof s.lifetimeMs === "number" ? s.lifetimeMs : 0,
    user: parseUser(s.user),
  };
}
