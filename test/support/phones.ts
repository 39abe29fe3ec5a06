/** An Iranian mobile number, in the form users type and in E.164. */
export interface Phone {
  local: string;
  e164: string;
}

// A random start, then a sequence: no number comes twice in a test file (a repeat
// would meet the send limits), and files running side by side rarely share one
// (each has its own stores anyway).
let sequence = Math.floor(Math.random() * 10_000_000);

/** A mobile number no other call in this test file got. */
export function freshPhone(): Phone {
  sequence = (sequence + 1) % 10_000_000;
  const digits = String(sequence).padStart(7, "0");
  return { local: `0912${digits}`, e164: `+98912${digits}` };
}
