/**
 * The fields of a JSON body, typed: a string field must be a JSON string, a
 * boolean one a JSON boolean; a required one must be present. Anything else is
 * `validation_error` naming the field. Unknown fields are ignored (but see onlyFields). What a value must look like (a phone, a
 * code) is the service's business, not the bridge's.
 */
import { AppError } from "../../src/core/errors.js";

type Kind = "string" | "string?" | "boolean?";
type Spec = Readonly<Record<string, Kind>>;
type Fields<S extends Spec> = { [K in keyof S]: S[K] extends "string" ? string : S[K] extends "string?" ? string | undefined : boolean | undefined };

export function fields<S extends Spec>(body: Record<string, unknown>, spec: S): Fields<S> {
  const out: Record<string, string | boolean | undefined> = {};
  for (const [name, kind] of Object.entries(spec)) {
    const value = Object.hasOwn(body, name) ? body[name] : undefined;
    if (value === undefined && kind !== "string") continue;
    const type = kind === "boolean?" ? "boolean" : "string";
    if (typeof value !== type) {
      throw new AppError("validation_error", value === undefined ? `${name} is required` : `${name} must be a ${type}`, { field: name });
    }
    out[name] = value as string | boolean;
  }
  return out as Fields<S>;
}

/** Refuses a body with a field `spec` does not name, for routes where a misspelt
 * field silently ignored would do harm (a staff change that changes nothing). */
export function onlyFields(body: Record<string, unknown>, spec: Spec): void {
  const unknown = Object.keys(body).find((name) => !Object.hasOwn(spec, name));
  if (unknown !== undefined) throw new AppError("validation_error", `${unknown} is not a field of this request`, { field: unknown });
}
