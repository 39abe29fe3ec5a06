/**
 * The Database port with a CLIENT span per statement. The SQL is recorded as the
 * repositories wrote it, with `$n` placeholders: parameter values (phones, token
 * digests) are never recorded.
 */
import { SpanKind } from "@opentelemetry/api";
import { ATTR_DB_QUERY_TEXT, ATTR_DB_SYSTEM_NAME, DB_SYSTEM_NAME_VALUE_POSTGRESQL } from "@opentelemetry/semantic-conventions";
import type { Database, Queryable } from "../../store/postgres/db.js";
import type { ChildSpan } from "./child-span.js";

export function traceDatabase(db: Database, span: ChildSpan): Database {
  const { query, exec } = traced(db, span);
  return {
    kind: db.kind,
    query,
    exec,
    // The held connection gets a span of its own, its statements as children.
    exclusive: (fn) => span(`${DB_SYSTEM_NAME_VALUE_POSTGRESQL} exclusive`, { [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL }, () => db.exclusive((connection) => fn(traced(connection, span))), SpanKind.INTERNAL),
    ping: () => db.ping(),
    close: () => db.close(),
  };
}

function traced(connection: Queryable, span: ChildSpan): Queryable {
  return {
    query: <R extends object>(sql: string, params?: readonly unknown[]) => span(statementName(sql), attributesOf(sql), () => connection.query<R>(sql, params)),
    exec: (sql: string) => span(statementName(sql), attributesOf(sql), () => connection.exec(sql)),
  };
}

function attributesOf(sql: string) {
  return { [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL, [ATTR_DB_QUERY_TEXT]: sql };
}

/** The statement's first keyword (`SELECT`, `WITH`, `INSERT`, …): a bounded span name;
 * the statement itself is in `db.query.text`. */
function statementName(sql: string): string {
  return /^\s*([A-Za-z]+)/.exec(sql)?.[1]?.toUpperCase() ?? DB_SYSTEM_NAME_VALUE_POSTGRESQL;
}
