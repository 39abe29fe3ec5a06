import { randomFillSync, randomInt, randomUUID } from "node:crypto";

/** Randomness is injected (tests may pin codes); production uses the CSPRNG. */
export interface Random {
  /** A one-time code of `length` decimal digits, uniformly distributed. */
  code(length: number): string;
  /** An unguessable id: 128 random bits, base64url (token ids, session ids). */
  id(): string;
  /** A UUID v4 (user ids). */
  uuid(): string;
}

/** Ids come from a buffer of CSPRNG bytes refilled 256 ids at a time, as Node's own
 * randomUUID does: one call into OpenSSL per 256 ids instead of one per id (a
 * refresh draws two). Each id's bytes are used once. */
const ID_BYTES = 16;
const idPool = Buffer.alloc(ID_BYTES * 256);
let idOffset = idPool.length;

function pooledId(): string {
  if (idOffset === idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  const id = idPool.toString("base64url", idOffset, idOffset + ID_BYTES);
  idOffset += ID_BYTES;
  return id;
}

export const cryptoRandom: Random = {
  code(length) {
    let code = "";
    for (let i = 0; i < length; i++) code += String(randomInt(10));
    return code;
  },
  id: pooledId,
  uuid: () => randomUUID(),
};
