/**
 * What a caller must never read in an error: stack frames, SQL, hosts and ports,
 * driver names. One check for every suite that looks at refusals (gRPC status
 * messages, Connect errors, /api bodies).
 */
import { expect } from "vitest";

export function expectNoInternals(text: string): void {
  expect(text).not.toMatch(/\bat .+:\d+:\d+|\n/); // stack frames
  expect(text).not.toMatch(/SELECT|INSERT|UPDATE|DELETE|relation|column|syntax/i); // SQL
  expect(text).not.toMatch(/127\.0\.0\.1|localhost|::1|:\d{2,5}\b/); // hosts and ports
  expect(text).not.toMatch(/ECONN|redis|postgres|pg_|ioredis|PGlite/i); // drivers
}
