/**
 * The feed's cursor: which database's log (its epoch) and how far into it. Opaque
 * to clients; a cursor resumes only when nothing after it can have been lost.
 */
import { AppError } from "../errors.js";
import type { RevocationLogState } from "../ports/revocations.js";

export interface Cursor {
  epoch: string;
  /** The last log id the holder has seen. */
  id: number;
}

const CURSOR = /^([0-9a-f]{32})\.(0|[1-9]\d{0,14})$/;

export function encodeCursor(cursor: Cursor): string {
  return `${cursor.epoch}.${cursor.id}`;
}

/** The cursor a client sent; undefined for none (""). Anything else that is not one
 * of ours is refused (validation_error), not taken for "start over". */
export function decodeCursor(text: string): Cursor | undefined {
  if (text === "") return undefined;
  const match = CURSOR.exec(text);
  if (match === null) throw new AppError("validation_error", "cursor is not a cursor of this feed", { field: "cursor" });
  return { epoch: match[1]!, id: Number(match[2]) };
}

/** Whether every revocation after `cursor` is still in the log: same database,
 * nothing after it deleted by retention, and not ahead of the log (a database
 * restored from a backup). Otherwise the client gets the full opening set. */
export function resumable(cursor: Cursor | undefined, log: RevocationLogState): cursor is Cursor {
  return cursor !== undefined && cursor.epoch === log.epoch && cursor.id >= log.purgedThrough && cursor.id <= log.lastId;
}
