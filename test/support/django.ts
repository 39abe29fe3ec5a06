/**
 * The Django system this service replaces, for real: a minimal Django project
 * (test/fixtures/django) run by Debian's python3 with Django, DRF and SimpleJWT,
 * whose own migrations make the schema and whose SimpleJWT issues and blacklists
 * the tokens. Where those packages are missing the Django suites do not run, except
 * under CI=true, where they run and fail: CI must install them (.ci/run does).
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { freshDatabase } from "./services.js";

export const DJANGO_PYTHON = process.env.DJANGO_PYTHON ?? "/usr/bin/python3";
const TOOL = fileURLToPath(new URL("../fixtures/django/tool.py", import.meta.url));
const PACKAGES = "python3-django python3-djangorestframework python3-djangorestframework-simplejwt python3-psycopg2";

function djangoInstalled(): boolean {
  try {
    execFileSync(DJANGO_PYTHON, ["-c", "import django, rest_framework, rest_framework_simplejwt, psycopg2"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const installed = djangoInstalled();

/** Whether the Django suites run here. */
export const djangoSuitesRun = installed || process.env.CI === "true";

/** A user as the Django system holds it (its column names); Django's defaults fill the rest. */
export interface DjangoUser {
  phone: string;
  first_name?: string;
  last_name?: string;
  is_staff?: boolean;
  is_active?: boolean;
  /** ISO 8601 instants. */
  date_joined?: string;
  last_login?: string | null;
}

export interface DjangoTokens {
  refresh: string;
  access: string;
  jti: string;
}

/** One Django system on a database of its own. */
export interface DjangoSystem {
  /** Its PostgreSQL database (what `import-django --source-url` reads). */
  readonly url: string;
  /** Its SECRET_KEY, which SimpleJWT signs with (HS256): LEGACY_SIMPLEJWT_SIGNING_KEY. */
  readonly signingKey: string;
  /** Creates users through Django's user manager; their ids, in order. */
  users(users: readonly DjangoUser[]): Promise<number[]>;
  /** A refresh token (and its access token) as the Django system issued them at login. */
  refreshToken(userId: number): Promise<DjangoTokens>;
  /** Blacklists a refresh token through SimpleJWT (a logout there); its jti. */
  blacklist(refresh: string): Promise<string>;
  drop(): Promise<void>;
}

/** A fresh PostgreSQL database whose schema Django's own migrations made. */
export async function freshDjangoDatabase(): Promise<DjangoSystem> {
  if (!installed) throw new Error(`Django is not installed for ${DJANGO_PYTHON} (apt-get install -y ${PACKAGES})`);
  const database = await freshDatabase();
  const signingKey = randomBytes(32).toString("base64url");
  const tool = <T>(args: readonly string[], input?: string) => runTool<T>({ DJANGO_DATABASE_URL: database.url, DJANGO_SECRET_KEY: signingKey }, args, input);
  try {
    await tool(["migrate"]);
  } catch (error) {
    await database.drop();
    throw error;
  }
  return {
    url: database.url,
    signingKey,
    users: (users) => tool<number[]>(["create-users"], JSON.stringify(users)),
    refreshToken: (userId) => tool<DjangoTokens>(["refresh-token", String(userId)]),
    blacklist: async (refresh) => (await tool<{ jti: string }>(["blacklist", refresh])).jti,
    drop: database.drop,
  };
}

function runTool<T>(env: Record<string, string>, args: readonly string[], input?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      DJANGO_PYTHON,
      [TOOL, ...args],
      { env: { PATH: process.env.PATH ?? "", PYTHONDONTWRITEBYTECODE: "1", ...env }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`tool.py ${args[0]} failed: ${stderr.trim() || error.message}`));
        else resolve(JSON.parse(stdout) as T);
      },
    );
    child.stdin?.end(input ?? "");
  });
}
