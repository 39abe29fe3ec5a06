/**
 * The Redis KeyValueStore with a CLIENT span per method: each is one round trip (a
 * command or one of src/store/kv/redis.ts's scripts), named after it. Keys and
 * values are never recorded (keys name people and sessions).
 */
import { ATTR_DB_OPERATION_NAME, ATTR_DB_STORED_PROCEDURE_NAME, ATTR_DB_SYSTEM_NAME } from "@opentelemetry/semantic-conventions";
import type { Attributes } from "@opentelemetry/api";
import type { KeyValueStore } from "../../core/ports/key-value.js";
import type { ChildSpan } from "./child-span.js";

type RoundTrip = Exclude<keyof KeyValueStore, "onChange" | "hearingChanges" | "close">;

/** The command each method sends; for the scripts (EVALSHA), the script's name too. */
const COMMAND_OF: Readonly<Record<RoundTrip, readonly [command: string, script?: string]>> = {
  putCode: ["EVALSHA", "kvPutCode"],
  checkCode: ["EVALSHA", "kvCheckCode"],
  hit: ["EVALSHA", "kvHit"],
  peek: ["EVALSHA", "kvPeek"],
  hitShared: ["EVALSHA", "kvHitShared"],
  setIfAbsent: ["EVALSHA", "kvSetIfAbsent"],
  raise: ["EVALSHA", "kvRaise"],
  set: ["SET"],
  getMany: ["MGET"],
  del: ["DEL"],
  announceChange: ["PUBLISH"],
  ping: ["PING"],
};

export function traceKeyValue(kv: KeyValueStore, span: ChildSpan): KeyValueStore {
  const around = <K extends RoundTrip>(method: K): KeyValueStore[K] => {
    const [command, script] = COMMAND_OF[method];
    const name = script === undefined ? command : `${command} ${script}`;
    const attributes: Attributes = { [ATTR_DB_SYSTEM_NAME]: "redis", [ATTR_DB_OPERATION_NAME]: command, ...(script && { [ATTR_DB_STORED_PROCEDURE_NAME]: script }) };
    // One generic wrapper for every method: TypeScript cannot follow the arguments
    // through a mapped key, so the original is called untyped.
    const original = kv[method] as (...args: unknown[]) => Promise<unknown>;
    return ((...args: unknown[]) => span(name, attributes, () => original.apply(kv, args))) as KeyValueStore[K];
  };
  return {
    putCode: around("putCode"),
    checkCode: around("checkCode"),
    hit: around("hit"),
    peek: around("peek"),
    hitShared: around("hitShared"),
    setIfAbsent: around("setIfAbsent"),
    raise: around("raise"),
    set: around("set"),
    getMany: around("getMany"),
    del: around("del"),
    announceChange: around("announceChange"),
    ping: around("ping"),
    onChange: (listener) => kv.onChange(listener),
    get hearingChanges() {
      return kv.hearingChanges;
    },
    close: () => kv.close(),
  };
}
