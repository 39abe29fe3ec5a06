/**
 * The server streams open on one gRPC server. A stream lasts as long as its client
 * wants, so a draining server would wait for them until its grace ran out; shutdown
 * ends them at once instead (UNAVAILABLE: clients reconnect, to another instance).
 */
import type { status as Status } from "@grpc/grpc-js";

export type EndStream = (code: Status, message: string) => void;

export class OpenStreams {
  private readonly open = new Set<EndStream>();
  private closing: { code: Status; message: string } | undefined;

  /** Registers a stream's end; returns its removal. A stream opened after `endAll`
   * is ended at once. */
  add(end: EndStream): () => void {
    if (this.closing !== undefined) {
      const { code, message } = this.closing;
      queueMicrotask(() => end(code, message));
      return () => {};
    }
    this.open.add(end);
    return () => this.open.delete(end);
  }

  endAll(code: Status, message: string): void {
    this.closing = { code, message };
    for (const end of [...this.open]) end(code, message);
    this.open.clear();
  }
}
