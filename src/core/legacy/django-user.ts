/**
 * One row of the Django system's user table, checked as this service would check
 * the same person signing up: the phone as send-otp reads it, the names as
 * registration takes them. A row that fails is skipped with the reason.
 */
import { AppError } from "../errors.js";
import { normalizePhone, type PhonePolicy } from "../phone.js";
import type { DjangoUserRow, LegacyUser } from "../ports/legacy-import.js";
import { cleanName } from "../users/names.js";

/** A row that cannot be imported, and why in a few words. */
export class SkippedRow extends Error {
  override name = "SkippedRow";
}

/** The checked user, or throws SkippedRow. */
export function checkDjangoUser(row: DjangoUserRow, policy: PhonePolicy): LegacyUser {
  return {
    legacyId: legacyIdOf(row.id),
    phone: phoneOf(row.phone, policy),
    firstName: nameOf(row.first_name, "first_name"),
    lastName: nameOf(row.last_name, "last_name"),
    isStaff: flagOf(row.is_staff, "is_staff"),
    isActive: flagOf(row.is_active, "is_active"),
    dateJoined: instantOf(row.date_joined, "date_joined"),
    lastLogin: row.last_login === null ? null : instantOf(row.last_login, "last_login"),
  };
}

/** The Django id: a positive whole number (a bigint column arrives as a string). */
export function legacyIdOf(value: unknown): number {
  const id = typeof value === "string" && /^\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1) throw new SkippedRow("id is not a positive whole number");
  return id;
}

function phoneOf(value: unknown, policy: PhonePolicy): string {
  if (typeof value !== "string") throw new SkippedRow("no phone");
  try {
    return normalizePhone(value, policy);
  } catch (error) {
    if (error instanceof AppError) throw new SkippedRow(`unparseable phone ${JSON.stringify(value)}`);
    throw error;
  }
}

function nameOf(value: unknown, field: "first_name" | "last_name"): string {
  if (value === null) return "";
  if (typeof value !== "string") throw new SkippedRow(`${field} is not text`);
  try {
    return cleanName(value, field);
  } catch (error) {
    if (error instanceof AppError) throw new SkippedRow(error.message);
    throw error;
  }
}

function flagOf(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") throw new SkippedRow(`${field} is not true or false`);
  return value;
}

function instantOf(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new SkippedRow(`${field} is not a date and time`);
  return value;
}
