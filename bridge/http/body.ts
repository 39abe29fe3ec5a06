/**
 * The JSON body of a request, checked in the order a client can fix things:
 * content type (415), size (413), syntax (400 invalid_json), shape (400
 * validation_error, for valid JSON that is not an object).
 */
import { AppError } from "../../src/core/errors.js";
import { HttpRefusal } from "./reasons.js";
import { headerOf, type Exchange, type NodeRequest } from "./exchange.js";

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });

export async function readJsonObject(ex: Exchange, maxBytes: number): Promise<Record<string, unknown>> {
  assertJsonContentType(headerOf(ex.req.headers, "content-type"));
  const declared = Number(headerOf(ex.req.headers, "content-length"));
  if (declared > maxBytes) throw new HttpRefusal("payload_too_large");

  const body = await readAtMost(ex.req, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch {
    throw new HttpRefusal("invalid_json");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new AppError("validation_error", "the body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * The body, or `payload_too_large` as soon as it passes `maxBytes`. Reading then
 * stops without destroying the request (leaving a `for await` early would), so
 * the 413 can still be answered; the rest is never read.
 */
function readAtMost(req: NodeRequest, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        stop();
        req.pause();
        reject(new HttpRefusal("payload_too_large"));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    const onClose = () => onError(new Error("the client closed the request before its body ended"));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/** `application/json` or `application/<x>+json`, in UTF-8 (the default) only. */
function assertJsonContentType(contentType: string | undefined): void {
  if (contentType === undefined) throw new HttpRefusal("unsupported_media_type");
  const [type = "", ...params] = contentType.split(";");
  const media = type.trim().toLowerCase();
  const json = media === "application/json" || (media.startsWith("application/") && media.endsWith("+json"));
  const charset = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith("charset="));
  const utf8Charset = charset === undefined || /^charset="?utf-8"?$/.test(charset);
  if (!json || !utf8Charset) throw new HttpRefusal("unsupported_media_type");
}
