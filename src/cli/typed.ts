import { AppError } from "../core/errors.js";
import { UsageError } from "./errors.js";

/** An argument as the operator typed it, and how the help names it (`--phone`, `PHONE`). */
export interface Typed {
  label: string;
  text: string;
}

/**
 * Runs the domain's check of what was typed; a refusal (`invalid_phone`,
 * `validation_error`) becomes a bad argument naming the argument as typed, before
 * any store is opened.
 */
export function checkTyped<T>(check: () => T, typed: Readonly<Record<string, Typed>>): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    // invalid_phone names no field: only the phone can be it.
    const field = error.reason === "invalid_phone" ? "phone" : error.field;
    const argument = field === undefined ? undefined : typed[field];
    if (argument === undefined) throw error;
    if (error.reason === "invalid_phone") {
      const why = error.message === error.reason ? "" : ` (${error.message})`;
      throw new UsageError(`${argument.label} "${argument.text}" is not a phone number we accept${why}`);
    }
    if (error.reason === "validation_error") throw new UsageError(error.message.replace(field ?? "", argument.label));
    throw error;
  }
}
