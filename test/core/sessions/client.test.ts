import { describe, expect, it } from "vitest";
import { requestClient, userAgentOf } from "../../../src/core/sessions/client.js";

describe("userAgentOf", () => {
  it("keeps a User-Agent as it came", () => {
    const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36";
    expect(userAgentOf(chrome)).toBe(chrome);
  });

  it("keeps at most 256 characters, counting characters rather than UTF-16 units", () => {
    expect(userAgentOf("a".repeat(300))).toBe("a".repeat(256));
    expect(userAgentOf(`${"a".repeat(255)}😀b`)).toBe(`${"a".repeat(255)}?`);
  });

  it("turns what is not printable ASCII into ?, so the text is a valid header wherever it goes next", () => {
    expect(userAgentOf("Agent\u0000/1\u0007 (caf\u00e9)\u2028")).toBe("Agent?/1? (caf?)?");
  });

  it("drops spaces around it, also those the cut leaves at the end", () => {
    expect(userAgentOf("  Agent/1  ")).toBe("Agent/1");
    expect(userAgentOf(`${"a".repeat(255)} b`)).toBe("a".repeat(255));
  });

  it("is null for none, empty or blank", () => {
    for (const raw of [undefined, "", "   "]) expect(userAgentOf(raw)).toBeNull();
  });
});

describe("requestClient", () => {
  it("is the IP and the User-Agent as kept", () => {
    expect(requestClient("203.0.113.9", ` ${"x".repeat(400)}`)).toEqual({ ip: "203.0.113.9", userAgent: "x".repeat(255) });
    expect(requestClient("203.0.113.9", undefined)).toEqual({ ip: "203.0.113.9", userAgent: null });
  });
});
