import { randomBytes, randomInt, randomUUID } from "node:crypto";

/** Randomness is injected (tests may pin codes); production uses the CSPRNG. */
export interface Random {
  /** A one-time code of `length` decimal digits, uniformly distributed. */
  code(length: number): string;
  /** An unguessable id: 128 random bits, base64url (token ids, session ids). */
  id(): string;
  /** A UUID v4 (user ids). */
  uuid(): string;
}

export const cryptoRandom: Random = {
  code(length) {
    let code = "";
    for (let i = 0; i < length; i++) code += String(randomInt(10));
    return code;
  },
  id: () => randomBytes(16).toString("base64url"),
  uuid: () => randomUUID(),
};
