/**
 * `npm run bench:search`: the staff user search (ListUsers) over 1,000,000 users on
 * real PostgreSQL. Seeds a fresh database (Latin and Persian names, a long tail of
 * rare ones, a session for every fifth user), then runs each kind of search through
 * the repository itself and asks PostgreSQL to EXPLAIN ANALYZE the very statement
 * the repository sent, with its parameters. Writes its table into BENCHMARKS.md
 * between its own markers. Numbers live here, never in tests.
 */
import { readFile, writeFile } from "node:fs/promises";
import type { UserPosition, UserSearch } from "../../src/core/ports/users.js";
import { createPostgresDatabase, type Queryable } from "../../src/store/postgres/db.js";
import { migrate } from "../../src/store/postgres/migrate.js";
import { createUserRepository } from "../../src/store/postgres/users.js";
import { freshDatabase } from "../support/services.js";

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const RUNS = 7;

const FIRST = ["Sara", "Reza", "Mina", "Ali", "Zahra", "Hossein", "Maryam", "Mohammad", "Fatemeh", "Amir", "Nazanin", "Mehdi",
  "سارا", "رضا", "مینا", "علی", "زهرا", "حسین", "مریم", "محمد", "فاطمه", "امیر", "نازنین", "مهدی"];
const LAST = ["Ahmadi", "Karimi", "Hosseini", "Rahimi", "Mohammadi", "Jafari", "Rezaei", "Moradi", "Sadeghi", "Ebrahimi",
  "احمدی", "کریمی", "حسینی", "رحیمی", "محمدی", "جعفری", "رضایی", "مرادی", "صادقی", "ابراهیمی"];
/** Syllables of the long tail: one name in three is made of them, so rare names exist too. */
const SYLLABLES = ["ka", "ri", "mo", "za", "de", "ha", "ne", "lo", "sh", "ar", "vi", "tu", "کا", "ری", "مو", "زا", "ده", "نو"];

/** One of the syllables, at random (each row draws its own). */
const syllable = `s[1 + floor(random() * ${SYLLABLES.length})::int]`;
const sqlArray = (values: string[]) => `ARRAY[${values.map((v) => `'${v}'`).join(",")}]`;

async function seed(db: Queryable): Promise<number> {
  const started = performance.now();
  // Phones +98912 0000001 … : one block of +98 mobile numbers, joined over five years.
  await db.query(`
    INSERT INTO users (id, phone, first_name, last_name, date_joined, last_login)
    SELECT gen_random_uuid(), '+98912' || lpad(i::text, 7, '0'),
           CASE WHEN i % 3 = 0 THEN initcap(${syllable} || ${syllable} || ${syllable} || CASE WHEN random() < 0.5 THEN ${syllable} ELSE '' END)
                ELSE f[1 + (i * 31) % ${FIRST.length}] END,
           l[1 + (i * 17) % ${LAST.length}] || CASE WHEN i % 5 = 0 THEN s[1 + (i / 3) % ${SYLLABLES.length}] ELSE '' END,
           now() - (random() * interval '1825 days'), NULL
    FROM generate_series(1, ${USERS}) AS i,
         LATERAL (SELECT ${sqlArray(FIRST)} AS f, ${sqlArray(LAST)} AS l, ${sqlArray(SYLLABLES)} AS s) names`);
  await db.query(`
    INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, current_refresh_jti)
    SELECT md5(u.id::text), u.id, now() - interval '1 day', now() - interval '1 hour', now() + interval '29 days', md5(u.phone)
    FROM users u WHERE right(u.phone, 1) IN ('0', '5')`);
  await db.query("VACUUM ANALYZE users");
  await db.query("VACUUM ANALYZE sessions");
  return performance.now() - started;
}

interface Explained {
  executionMs: number;
  planningMs: number;
  plan: string;
}

/** A Queryable that runs each query as it is and, on request, EXPLAIN ANALYZE of it. */
function explaining(db: Queryable) {
  let last: { sql: string; params: readonly unknown[] } | undefined;
  const queryable: Queryable = {
    async query(sql, params = []) {
      last = { sql, params };
      return db.query(sql, params);
    },
    exec: (sql) => db.exec(sql),
  };
  return {
    queryable,
    async explainLast(): Promise<Explained> {
      if (last === undefined) throw new Error("nothing ran yet");
      const [row] = await db.query<{ "QUERY PLAN": [{ Plan: PlanNode; "Execution Time": number; "Planning Time": number }] }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${last.sql}`, last.params);
      const report = row!["QUERY PLAN"][0];
      return { executionMs: report["Execution Time"], planningMs: report["Planning Time"], plan: outline(report.Plan) };
    },
  };
}

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

/** The plan's nodes, outermost first, with the indexes they use: enough to see which index answered. */
function outline(node: PlanNode): string {
  const here = node["Index Name"] === undefined ? node["Node Type"] : `${node["Node Type"]} (${node["Index Name"]})`;
  const below = (node.Plans ?? []).map(outline).filter((p) => p !== "");
  return below.length === 0 ? here : `${here} → ${below.join(", ")}`;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const database = await freshDatabase();
  const db = await createPostgresDatabase({ url: database.url, statementTimeoutMs: 600_000 });
  try {
    await migrate(db);
    console.log(`seeding ${USERS.toLocaleString("en")} users …`);
    const seedMs = await seed(db);
    console.log(`seeded in ${(seedMs / 1000).toFixed(1)} s`);
    const { queryable, explainLast } = explaining(db);
    const users = createUserRepository(queryable);
    const now = new Date();

    // The position of the 500,000th user, newest first: where a deep page starts.
    const [deep] = await db.query<{ id: string; micros: string }>(
      `SELECT id, (extract(epoch FROM date_joined) * 1000000)::bigint::text AS micros FROM users ORDER BY date_joined DESC, id DESC OFFSET ${Math.floor(USERS / 2)} LIMIT 1`,
    );
    const deepPosition: UserPosition = { dateJoinedMicros: BigInt(deep!.micros), id: deep!.id };
    // The rarest made-up first names, Latin and Persian: a search that finds a few users.
    const rarest = async (script: string) => {
      const [row] = await db.query<{ name: string; users: number }>(
        `SELECT first_name AS name, count(*)::int AS users FROM users WHERE first_name ~ $1 AND NOT first_name = ANY($2::text[])
         GROUP BY first_name ORDER BY count(*), first_name LIMIT 1`,
        [script, FIRST],
      );
      return row!;
    };
    const [latin, persian] = [await rarest("^[A-Za-z]+$"), await rarest("^[\u0600-\u06FF]+$")];

    const searches: [string, Omit<UserSearch, "limit" | "now">][] = [
      ["phone, exact", { phone: "+989120500000" }],
      ["phone prefix, 100 numbers (+9891205000)", { phonePrefix: "+9891205000" }],
      ["phone prefix, 10,000 numbers (+98912050)", { phonePrefix: "+98912050" }],
      ["phone prefix, 100,000 numbers (+9891205)", { phonePrefix: "+9891205" }],
      ["phone prefix, everyone (+98912)", { phonePrefix: "+98912" }],
      ["name part, Latin, common (\"ahmad\")", { namePart: "ahmad" }],
      [`name part, Latin, rare ("${latin.name.toLowerCase()}"; ${latin.users} with that first name)`, { namePart: latin.name.toLowerCase() }],
      ["name part, Persian, common (\"محمد\")", { namePart: "محمد" }],
      [`name part, Persian, rare ("${persian.name}"; ${persian.users} with that first name)`, { namePart: persian.name }],
      ["name part, two letters (\"ri\")", { namePart: "ri" }],
      ["name part, no match (\"qqqxyz\")", { namePart: "qqqxyz" }],
      ["everyone, first page", {}],
      [`everyone, a deep page (after the ${Math.floor(USERS / 2).toLocaleString("en")}th)`, { after: deepPosition }],
      ["name part, a deep page (\"ahmad\", after the same place)", { namePart: "ahmad", after: deepPosition }],
    ];

    const rows: string[] = [];
    for (const [what, search] of searches) {
      const wall: number[] = [];
      let found = 0;
      for (let run = 0; run < RUNS; run++) {
        const started = performance.now();
        found = (await users.search({ ...search, limit: 51, now })).length;
        wall.push(performance.now() - started);
      }
      const explained = await explainLast();
      const row = `| ${what} | ${found} | ${explained.executionMs.toFixed(2)} ms | ${explained.planningMs.toFixed(2)} ms | ${median(wall).toFixed(2)} ms | ${explained.plan} |`;
      console.log(row);
      rows.push(row);
    }

    const [version] = await db.query<{ version: string }>("SELECT version()");
    const table = `<!-- user-search:begin (written by npm run bench:search; edit outside these markers) -->
Measured by \`npm run bench:search\` (test/bench/user-search.ts) on ${new Date().toISOString().slice(0, 10)}: ${USERS.toLocaleString("en")} users
(seeded in ${(seedMs / 1000).toFixed(0)} s, with a live session for every fifth user), on ${version!.version.split(" on ")[0]}.
Each search asks for a page of 50 (51 rows: one more tells whether a next page exists), newest
\`date_joined\` first, each user with their live sessions counted, exactly as ListUsers does;
"EXPLAIN ANALYZE" is PostgreSQL's own execution and planning time of that statement with its
parameters, "call" the median of ${RUNS} repository calls from Node (round trip included).

| search | rows | EXPLAIN ANALYZE execution | planning | call (median) | plan |
|---|---|---|---|---|---|
${rows.join("\n")}
<!-- user-search:end -->`;
    const previous = await readFile("BENCHMARKS.md", "utf8").catch(() => "# Benchmarks\n");
    const markers = /<!-- user-search:begin[\s\S]*<!-- user-search:end -->/;
    await writeFile("BENCHMARKS.md", markers.test(previous) ? previous.replace(markers, () => table) : `${previous.trimEnd()}\n\n## Staff user search (ListUsers) over a million users\n\n${table}\n`);
    console.log("wrote BENCHMARKS.md");
  } finally {
    await db.close();
    await database.drop();
  }
}

await main();
