/**
 * Every command of `identity`, with its arguments and help. A command's work is
 * loaded only when it runs, so help and bad arguments answer without loading the
 * stores' drivers.
 */
import type { ArgsSpec, ParsedArgs } from "./args.js";

/** Does the command's work; returns the one line that says what was done. */
export type Run = (args: ParsedArgs) => Promise<string>;

export interface Command extends ArgsSpec {
  /** As typed after `identity`: `users create`. */
  name: string;
  /** Its arguments, short, in the list of commands. */
  synopsis: string;
  /** What it does, in the list of commands. */
  summary: string;
  /** What --help prints. */
  help: string;
  load(): Promise<Run>;
}

const PHONE_HELP = "PHONE is the user's phone in any spelling send-otp accepts (09123456789, +98 912 345 6789, ۰۹۱۲…).";
const HELP_OPTION = "  -h, --help                show this help";

export const COMMANDS: readonly Command[] = [
  {
    name: "migrate",
    synopsis: "migrate",
    summary: "apply pending schema migrations",
    help: `Usage: identity migrate

Applies the pending schema migrations and exits (instances also do at start, under
an advisory lock, so this is safe beside them).

${HELP_OPTION}`,
    options: {},
    positionals: [],
    load: async () => (await import("./migrate.js")).migrateCommand,
  },
  {
    name: "flush-expired",
    synopsis: "flush-expired [BATCH_SIZE]",
    summary: "delete expired sessions and refresh-token rows",
    help: `Usage: identity flush-expired [BATCH_SIZE]

Deletes expired sessions and refresh-token rows in bounded batches (at most
BATCH_SIZE rows of each table per statement, default 5000), skipping rows that are
locked. Safe to run from cron on any machine, beside running instances.

${HELP_OPTION}`,
    options: {},
    positionals: [{ name: "BATCH_SIZE", optional: true }],
    load: async () => (await import("./flush-expired.js")).flushExpiredCommand,
  },
  {
    name: "users create",
    synopsis: "users create --phone PHONE ...",
    summary: "create a user (--staff: a staff user)",
    help: `Usage: identity users create --phone PHONE [--first-name NAME] [--last-name NAME] [--staff]

Creates an active user without a session (they log in with a code, as anyone).
With --staff the user is staff: this is how the first staff user is made.
Recorded as user.registered by the actor system.

  --phone PHONE             the user's phone (required)
  --first-name NAME         given name (default empty)
  --last-name NAME          family name (default empty)
  --staff                   make the user staff
${HELP_OPTION}

${PHONE_HELP}`,
    options: { phone: { type: "string", required: true }, "first-name": { type: "string" }, "last-name": { type: "string" }, staff: { type: "boolean" } },
    positionals: [],
    load: async () => (await import("./users/create.js")).createCommand,
  },
  {
    name: "users set-staff",
    synopsis: "users set-staff PHONE true|false",
    summary: "grant or take staff",
    help: `Usage: identity users set-staff PHONE true|false

Makes the user staff (true) or not (false), taking effect on their next call.
Recorded as admin.user_updated by the actor system.

${HELP_OPTION}

${PHONE_HELP}`,
    options: {},
    positionals: [{ name: "PHONE" }, { name: "true or false" }],
    load: async () => (await import("./users/update.js")).setStaffCommand,
  },
  {
    name: "users disable",
    synopsis: "users disable PHONE",
    summary: "deactivate a user, ending every session at once",
    help: `Usage: identity users disable PHONE

Deactivates the user: every session ends at once (on every running instance), and
their send-otp and login answer account_disabled until they are enabled again.
Recorded as admin.user_updated by the actor system.

${HELP_OPTION}

${PHONE_HELP}`,
    options: {},
    positionals: [{ name: "PHONE" }],
    load: async () => (await import("./users/update.js")).disableCommand,
  },
  {
    name: "users enable",
    synopsis: "users enable PHONE",
    summary: "let a deactivated user log in again",
    help: `Usage: identity users enable PHONE

Activates the user again: they may log in (the sessions that ended stay ended).
Recorded as admin.user_updated by the actor system.

${HELP_OPTION}

${PHONE_HELP}`,
    options: {},
    positionals: [{ name: "PHONE" }],
    load: async () => (await import("./users/update.js")).enableCommand,
  },
  {
    name: "users revoke-sessions",
    synopsis: "users revoke-sessions PHONE",
    summary: "end every session of a user at once",
    help: `Usage: identity users revoke-sessions PHONE

Ends every session of the user at once (on every running instance), as their own
logout-all would; they may log in again. Recorded as admin.sessions_revoked by the
actor system.

${HELP_OPTION}

${PHONE_HELP}`,
    options: {},
    positionals: [{ name: "PHONE" }],
    load: async () => (await import("./users/revoke-sessions.js")).revokeSessionsCommand,
  },
  {
    name: "import-django",
    synopsis: "import-django --source-url URL ...",
    summary: "import the Django system's users and SimpleJWT blacklist",
    help: `Usage: identity import-django --source-url postgres://... [--table accounts_user] [--dry-run]

Imports the users of the Django system this service replaces from its PostgreSQL
database (columns id, phone, first_name, last_name, is_staff, is_active,
date_joined, last_login), and the refresh tokens SimpleJWT blacklisted there
(token_blacklist_*), so they can never be exchanged here.

Phones are normalized as send-otp reads them; users are upserted by phone, each
keeping its Django id (legacy_id), names, flags and dates. A row that cannot be
imported is skipped and listed with the reason (the first 20): an unparseable
phone, a phone that repeats an earlier row once normalized, a phone that belongs to
a user imported from another Django id, a malformed value. Running it again changes
nothing. New users are recorded as user.registered, changed ones as
admin.user_updated, by the actor system. Someone who was here already and whom the
Django system has deactivated or demoted since changes last, as users disable and
users set-staff change them: at once on running instances (so, like those, it
needs the Redis they share). Long runs print their progress on stderr.

  --source-url URL          the Django system's database (required)
  --table NAME              its user table (default accounts_user)
  --dry-run                 read and compare everything, write nothing; the same report
${HELP_OPTION}`,
    options: { "source-url": { type: "string", required: true }, table: { type: "string" }, "dry-run": { type: "boolean" } },
    positionals: [],
    load: async () => (await import("./import-django.js")).importDjangoCommand,
  },
  {
    name: "keys generate",
    synopsis: "keys generate [--alg ALG]",
    summary: "print a new private signing key (PKCS#8 PEM)",
    help: `Usage: identity keys generate [--alg ES256|EdDSA|RS256]

Prints a new private key as PKCS#8 PEM, for JWT_SIGNING_KEY (with JWT_ALGORITHM set
to the same algorithm). Nothing is stored: keep it where your secrets live. To
rotate keys, publish the new key's public half first (README, "Key rotation").

  --alg ALG                 ES256 (default), EdDSA or RS256 (2048 bits)
${HELP_OPTION}`,
    options: { alg: { type: "string" } },
    positionals: [],
    load: async () => (await import("./keys.js")).generateKeyCommand,
  },
  {
    name: "keys jwks",
    synopsis: "keys jwks",
    summary: "print the public JWKS of the configured keys",
    help: `Usage: identity keys jwks

Prints the public JWKS of JWT_SIGNING_KEY and JWT_VERIFY_KEYS (or of the development
key under DATA_DIR), the document GET /api/jwks/ serves: the signing key first.
HS256 secrets are never published.

${HELP_OPTION}`,
    options: {},
    positionals: [],
    load: async () => (await import("./keys.js")).jwksCommand,
  },
];

/** The commands as lines of a help: synopsis, then summary, aligned. */
function listed(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.synopsis.length)) + 2;
  return commands.map((command) => `  ${command.synopsis.padEnd(width)}${command.summary}`).join("\n");
}

export const TOP_HELP = `Usage: identity COMMAND [ARGUMENTS]

The identity service's operator commands. They read the service's environment
(DATABASE_URL or DATA_DIR, REDIS_URL, REDIS_KEY_PREFIX, PHONE_DEFAULT_REGION, ...).

Commands:
${listed(COMMANDS)}

Exit status: 0 done (one line on stdout says what), 1 the work failed, 2 a bad
argument (either way one line on stderr says why).
Run identity COMMAND --help for a command's arguments.`;

/** The help of a group of commands (`identity users --help`). */
export function groupHelp(group: string): string {
  return `Usage: identity ${group} COMMAND [ARGUMENTS]

Commands:
${listed(COMMANDS.filter((command) => command.name.startsWith(`${group} `)))}

Run identity ${group} COMMAND --help for a command's arguments.`;
}

/** The words that name a group of commands. */
export const GROUPS: readonly string[] = [...new Set(COMMANDS.filter((command) => command.name.includes(" ")).map((command) => command.name.split(" ")[0]!))];
