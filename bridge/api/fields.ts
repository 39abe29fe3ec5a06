/**
 * The fields of a JSON body, typed: a string field must be a JSON string; a
 * required one must be present. Anything else is `validation_error` naming the
 * field. Unknown fields are ignored. What a value must look like (a phone, a
 * code) is the service's business, not the bridge's.
 */
import { AppError } from "../../src/core/errors.js";

type Spec = Readonly<Record<string, "string" | "string?">>;
type Fields<S extends Spec> = { [K in keyof S]: S[K] extends "string" ? string : string | undefined };

export function fields<S extends Spec>(body: Record<string, unknown>, spec: S): Fields<S> {
  const out: Record<string, string | undefined> = {};
  for (const [name, kind] of Object.entries(spec)) {
    const value = Object.hasOwn(body, name) ? body[name] : undefined;
    if (value === undefined && kind === "string?") continue;
    if (typeof value !== "string") {
      throw new AppError("validation_error", value === undefined ? `${name} is required` : `${name} must be a string`, { field: name });
    }
    out[name] = value;
  }
  return out as Fields<S>;
}
