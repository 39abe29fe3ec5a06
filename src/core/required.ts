import { AppError } from "./errors.js";

/** A field a request must carry. Protobuf strings cannot be absent, so empty is missing. */
export function required(value: string, field: string): string {
  if (value === "") throw new AppError("validation_error", `${field} is required`, { field });
  return value;
}
