import { describe, expect, it } from "vitest";
import { AppError } from "../../../src/core/errors.js";
import { decodeCursor, encodeCursor, resumable } from "../../../src/core/revocations/cursor.js";
import { openingSince, retainedSince, RETENTION_MARGIN_MS } from "../../../src/core/revocations/window.js";

const EPOCH = "0123456789abcdef0123456789abcdef";
const log = { epoch: EPOCH, lastId: 100, purgedThrough: 40 };

describe("the feed's cursor", () => {
  it("reads back what it wrote, and reads the empty string as no cursor", () => {
    expect(decodeCursor(encodeCursor({ epoch: EPOCH, id: 42 }))).toEqual({ epoch: EPOCH, id: 42 });
    expect(decodeCursor("")).toBeUndefined();
  });

  it("refuses anything that is not one of its cursors with validation_error on cursor", () => {
    for (const text of ["x", `${EPOCH}.`, `${EPOCH}.-1`, `${EPOCH}.01`, `${EPOCH.toUpperCase()}.1`, `${EPOCH}.1.2`, `${EPOCH}.9999999999999999`, ` ${EPOCH}.1`]) {
      expect(() => decodeCursor(text), text).toThrow(AppError);
      try {
        decodeCursor(text);
      } catch (error) {
        expect(error).toMatchObject({ reason: "validation_error", field: "cursor" });
      }
    }
  });

  it("resumes only a cursor of this database, at or after what retention deleted and not past the log's end", () => {
    expect(resumable({ epoch: EPOCH, id: 40 }, log)).toBe(true);
    expect(resumable({ epoch: EPOCH, id: 100 }, log)).toBe(true);
    expect(resumable({ epoch: EPOCH, id: 39 }, log)).toBe(false);
    expect(resumable({ epoch: EPOCH, id: 101 }, log)).toBe(false);
    expect(resumable({ epoch: "f".repeat(32), id: 50 }, log)).toBe(false);
    expect(resumable(undefined, log)).toBe(false);
  });
});

describe("the feed's window", () => {
  const tokens = { accessLifetimeMs: 15 * 60_000, leewayMs: 30_000 };
  it("opens with the last access-token lifetime and leeway, and keeps a margin more", () => {
    const now = Date.UTC(2026, 0, 1, 12);
    expect(openingSince(tokens, now).getTime()).toBe(now - 15 * 60_000 - 30_000);
    expect(retainedSince(tokens, now).getTime()).toBe(now - 15 * 60_000 - 30_000 - RETENTION_MARGIN_MS);
  });
});
