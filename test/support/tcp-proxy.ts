/**
 * A TCP proxy in front of a store that a test can cut (`refuse()`: the port stops
 * listening and every open connection is dropped, as when the server dies) and
 * restore (`open()`, on the same port), without stopping the shared server behind it;
 * or stall (`stall()`: nothing is forwarded either way, nothing is closed, as when a
 * network drops packets) and let flow again (`flow()`).
 */
import net from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** Listens again on the same port; the store answers through it again. */
  open(): Promise<void>;
  /** Drops every connection and refuses new ones (also how a test closes it). */
  refuse(): Promise<void>;
  /** Stops forwarding, in both directions, on open and new connections; closes nothing. */
  stall(): void;
  /** Forwards again what was held and what comes. */
  flow(): void;
}

export async function tcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const pairs = new Set<[net.Socket, net.Socket]>();
  let stalled = false;
  const connect = ([client, upstream]: [net.Socket, net.Socket]) => {
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const hold = ([client, upstream]: [net.Socket, net.Socket]) => {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  };
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    track(client);
    track(upstream);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.once("close", () => (upstream.destroy(), pairs.delete(pair)));
    upstream.once("close", () => client.destroy());
    if (stalled) hold(pair);
    else connect(pair);
  });
  const listen = (port: number) => new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", () => (server.off("error", reject), resolve())));
  await listen(0);
  const { port } = server.address() as net.AddressInfo;
  const refuse = async () => {
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return {
    port,
    open: () => listen(port),
    refuse,
    stall() {
      stalled = true;
      for (const pair of pairs) hold(pair);
    },
    flow() {
      stalled = false;
      for (const pair of pairs) connect(pair);
    },
  };
}
